//! Detach keys (Docker's `--detach-keys`, `detachKeys`, the CLI config's
//! `detachKeys`): a key sequence in an attach or exec client's input that
//! ends the client's session and leaves the process running. Bytes that
//! begin the sequence are held back until it completes (dropped) or breaks
//! (passed on), as Docker's escape proxy does.

/// Docker's default: ctrl-p, ctrl-q.
pub const DEFAULT: &[u8] = &[0x10, 0x11];

/// Parses Docker's syntax: comma-separated keys, each one character or
/// `ctrl-<c>` for `c` in `a`-`z`, `@`, `[`, `\`, `]`, `^`, `_`. Empty: the default.
pub fn parse(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Ok(DEFAULT.to_vec());
    }
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        let byte = match k.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => match c.as_bytes()[0].to_ascii_lowercase() {
                c @ b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                c @ (b'[' | b'\\' | b']' | b'^' | b'_') => c - b'[' + 27,
                _ => return Err(format!("Unknown character: '{c}'")),
            },
            Some(_) => return Err(format!("Unknown character: '{k}'")),
            None if k.len() == 1 && k.is_ascii() => k.as_bytes()[0],
            None => return Err(format!("Unknown character: '{k}'")),
        };
        out.push(byte);
    }
    Ok(out)
}

/// Watches a stream of input for the sequence.
#[derive(Debug)]
pub struct Scanner {
    keys: Vec<u8>,
    matched: usize,
}

impl Scanner {
    pub fn new(keys: Vec<u8>) -> Scanner {
        Scanner { keys, matched: 0 }
    }

    /// What of `input` goes on to the process, and whether the sequence
    /// completed (then nothing after it is passed on).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // The held prefix was not the sequence: it is input after all.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_syntax() {
        assert_eq!(parse("").unwrap(), DEFAULT);
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), DEFAULT);
        assert_eq!(parse("ctrl-a,x").unwrap(), [1, b'x']);
        assert_eq!(parse("ctrl-@,ctrl-[,ctrl-_").unwrap(), [0, 27, 31]);
        for bad in ["ctrl-1", "ab", "ctrl-", "é"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn holds_a_prefix_until_it_completes_or_breaks() {
        let mut s = Scanner::new(DEFAULT.to_vec());
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"c"), (b"\x10c".to_vec(), false), "a broken prefix is passed on");
        assert_eq!(s.feed(b"x\x10"), (b"x".to_vec(), false));
        assert_eq!(s.feed(b"\x11after"), (Vec::new(), true), "split across reads");
        let mut s = Scanner::new(DEFAULT.to_vec());
        assert_eq!(s.feed(b"\x10\x10\x11"), (b"\x10".to_vec(), true));
        let mut none = Scanner::new(Vec::new());
        assert_eq!(none.feed(b"\x10\x11"), (b"\x10\x11".to_vec(), false));
        let mut one = Scanner::new(vec![b'q']);
        assert_eq!(one.feed(b"aqb"), (b"a".to_vec(), true));
    }
}
