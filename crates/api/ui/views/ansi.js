// ANSI SGR colours of a log line as spans (the 16 colours, bold; anything
// else dropped); text only through textContent, never as HTML.

import { h } from "../api.js";

const COLORS = ["#000", "#c23621", "#25bc24", "#adad27", "#492ee1", "#d338d3", "#33bbc8", "#cbcccd",
  "#818383", "#fc391f", "#31e722", "#eaec23", "#5833ff", "#f935f8", "#14f0f0", "#e9ebeb"];

export function ansiLine(text) {
  const line = h("span");
  let style = {};
  const re = /\x1b\[([0-9;]*)m/g;
  let at = 0;
  let m;
  const put = (s) => {
    if (!s) return;
    const span = h("span", {}, s);
    if (style.color) span.style.color = style.color;
    if (style.bg) span.style.backgroundColor = style.bg;
    if (style.bold) span.style.fontWeight = "bold";
    line.append(span);
  };
  while ((m = re.exec(text))) {
    put(text.slice(at, m.index));
    at = re.lastIndex;
    for (const code of (m[1] || "0").split(";").map(Number)) {
      if (code === 0) style = {};
      else if (code === 1) style.bold = true;
      else if (code === 22) style.bold = false;
      else if (code >= 30 && code <= 37) style.color = COLORS[code - 30];
      else if (code >= 90 && code <= 97) style.color = COLORS[code - 82];
      else if (code === 39) delete style.color;
      else if (code >= 40 && code <= 47) style.bg = COLORS[code - 40];
      else if (code === 49) delete style.bg;
    }
  }
  // Other escape sequences (cursor moves, …) are not shown.
  put(text.slice(at).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ""));
  return line;
}
