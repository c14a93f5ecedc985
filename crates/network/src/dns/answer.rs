//! Answers a query from a container's [`Directory`], or says it is for the
//! upstream servers. Names the directory holds are answered with
//! authority: A and AAAA with every address (rotated by the next `turn` —
//! taken only by an answer with several — round robin across the
//! containers that hold an alias; AAAA empty for a name held on IPv4
//! only), other types with no data, PTR for the containers' addresses.

use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::directory::{arpa_v4, arpa_v6, Directory};

/// Docker's TTL for container names.
const TTL: u32 = 600;

#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The answer, encoded.
    Answer(Vec<u8>),
    /// Not a name of ours: ask the upstream servers.
    Forward,
    /// Not a DNS message: nothing to say.
    Drop,
}

fn respond(query: &Message, code: ResponseCode, answers: Vec<Record>) -> Reply {
    let mut m = Message::response(query.metadata.id, query.metadata.op_code);
    m.metadata.message_type = MessageType::Response;
    m.metadata.authoritative = code == ResponseCode::NoError;
    m.metadata.recursion_desired = query.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    m.metadata.response_code = code;
    m.add_queries(query.queries.iter().cloned());
    m.add_answers(answers);
    m.to_vec().map(Reply::Answer).unwrap_or(Reply::Drop)
}

/// What to do with one query message from a container.
pub fn answer(bytes: &[u8], dir: &Directory, turn: &AtomicUsize) -> Reply {
    let Ok(query) = Message::from_vec(bytes) else {
        // A header we can read gets FORMERR; anything shorter is noise.
        if bytes.len() >= 12 {
            let id = u16::from_be_bytes([bytes[0], bytes[1]]);
            let m = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
            return m.to_vec().map(Reply::Answer).unwrap_or(Reply::Drop);
        }
        return Reply::Drop;
    };
    if query.metadata.message_type != MessageType::Query {
        return Reply::Drop;
    }
    if query.metadata.op_code != OpCode::Query || query.queries.len() != 1 {
        return Reply::Forward;
    }
    let q = &query.queries[0];
    let name = q.name().to_ascii();
    match q.query_type() {
        RecordType::PTR => match arpa_v4(&name)
            .and_then(|ip| dir.reverse(ip))
            .or_else(|| arpa_v6(&name).and_then(|ip| dir.reverse6(ip)))
        {
            Some(target) => match Name::from_ascii(format!("{target}.")) {
                Ok(t) => respond(
                    &query,
                    ResponseCode::NoError,
                    vec![Record::from_rdata(q.name().clone(), TTL, RData::PTR(PTR(t)))],
                ),
                Err(_) => Reply::Forward,
            },
            None => Reply::Forward,
        },
        RecordType::AAAA => match dir.lookup6(&name) {
            None => Reply::Forward,
            Some(mut ips) => {
                let n = ips.len();
                if n > 1 {
                    ips.rotate_left(turn.fetch_add(1, Ordering::Relaxed) % n);
                }
                let records =
                    ips.into_iter().map(|ip| Record::from_rdata(q.name().clone(), TTL, RData::AAAA(AAAA(ip))));
                respond(&query, ResponseCode::NoError, records.collect())
            }
        },
        qtype => match dir.lookup(&name) {
            None => Reply::Forward,
            Some(mut ips) => {
                let records = if qtype == RecordType::A || qtype == RecordType::ANY {
                    let n = ips.len();
                    if n > 1 {
                        ips.rotate_left(turn.fetch_add(1, Ordering::Relaxed) % n);
                    }
                    ips.into_iter().map(|ip| Record::from_rdata(q.name().clone(), TTL, RData::A(A(ip)))).collect()
                } else {
                    Vec::new()
                };
                respond(&query, ResponseCode::NoError, records)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::Query;

    use super::*;
    use crate::dns::directory::Entry;

    fn dir() -> Directory {
        let e = |ip: [u8; 4], names: &[&str], ptr: &str| Entry {
            ip: Ipv4Addr::from(ip),
            ip6: None,
            names: names.iter().map(|n| n.to_string()).collect(),
            ptr: ptr.into(),
        };
        Directory {
            entries: vec![
                e([10, 0, 0, 2], &["web1", "svc"], "web1.app"),
                e([10, 0, 0, 3], &["web2", "svc"], "web2.app"),
            ],
        }
    }

    fn ask(name: &str, t: RecordType, turn: usize) -> Reply {
        let mut m = Message::query();
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        answer(&m.to_vec().unwrap(), &dir(), &AtomicUsize::new(turn))
    }

    fn decoded(r: Reply) -> Message {
        match r {
            Reply::Answer(b) => Message::from_vec(&b).unwrap(),
            other => panic!("no answer: {other:?}"),
        }
    }

    fn a_records(m: &Message) -> Vec<Ipv4Addr> {
        m.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn names_get_every_address_round_robin() {
        let m = decoded(ask("svc.", RecordType::A, 0));
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative && m.metadata.recursion_available);
        assert_eq!(a_records(&m), [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)]);
        let next = decoded(ask("svc.", RecordType::A, 1));
        assert_eq!(
            a_records(&next),
            [Ipv4Addr::new(10, 0, 0, 3), Ipv4Addr::new(10, 0, 0, 2)],
            "the next turn leads with the next"
        );
        assert_eq!(a_records(&decoded(ask("WEB1", RecordType::A, 7))), [Ipv4Addr::new(10, 0, 0, 2)]);
        // One shared turn: successive answers lead with each holder in turn;
        // a single-address answer takes no turn.
        let (turn, dir) = (AtomicUsize::new(0), dir());
        let q = |name: &str| {
            let mut m = Message::query();
            m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
            a_records(&decoded(answer(&m.to_vec().unwrap(), &dir, &turn)))[0]
        };
        let firsts: Vec<Ipv4Addr> = (0..4).flat_map(|_| [q("svc."), q("web1.")]).step_by(2).collect();
        assert_eq!(firsts, [[10, 0, 0, 2], [10, 0, 0, 3], [10, 0, 0, 2], [10, 0, 0, 3]].map(Ipv4Addr::from));
    }

    #[test]
    fn other_types_of_a_known_name_have_no_data_and_unknown_names_go_upstream() {
        let m = decoded(ask("web1.", RecordType::AAAA, 0));
        assert_eq!((m.metadata.response_code, m.answers.len()), (ResponseCode::NoError, 0));
        assert_eq!(ask("example.com.", RecordType::A, 0), Reply::Forward);
        assert_eq!(ask("example.com.", RecordType::AAAA, 0), Reply::Forward);
    }

    #[test]
    fn aaaa_answers_ipv6_holders() {
        let mut d = dir();
        d.entries[1].ip6 = Some("fd00::3".parse().unwrap());
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii("svc.").unwrap(), RecordType::AAAA));
        let got = decoded(answer(&m.to_vec().unwrap(), &d, &AtomicUsize::new(0)));
        let six: Vec<String> = got
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::AAAA(a) => Some(a.0.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(six, ["fd00::3"]);
    }

    #[test]
    fn reverse_lookups_of_container_addresses() {
        let m = decoded(ask("3.0.0.10.in-addr.arpa.", RecordType::PTR, 0));
        let ptr: Vec<String> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(p) => Some(p.0.to_ascii()),
                _ => None,
            })
            .collect();
        assert_eq!(ptr, ["web2.app."]);
        assert_eq!(ask("9.0.0.10.in-addr.arpa.", RecordType::PTR, 0), Reply::Forward);
    }

    #[test]
    fn garbage_is_refused_or_dropped() {
        let mut junk = vec![0x12, 0x34];
        junk.extend([0xff; 14]);
        let m = decoded(answer(&junk, &dir(), &AtomicUsize::new(0)));
        assert_eq!((m.metadata.id, m.metadata.response_code), (0x1234, ResponseCode::FormErr));
        assert_eq!(answer(&[1, 2, 3], &dir(), &AtomicUsize::new(0)), Reply::Drop);
    }
}
