// The theme before the first paint (loaded synchronously in <head>): no
// flash of the other one.
document.documentElement.dataset.theme =
  localStorage.getItem("wharf-theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
