// Small behaviours the server-rendered pages rely on.
// Live fragments arrive over the page's one websocket (htmx ws extension) and are
// swapped in by id; this only keeps keyboard focus sensible after a swap.
document.addEventListener("htmx:oobAfterSwap", (event) => {
  const target = event.detail.target;
  if (target && target.id === "live-notice") target.setAttribute("tabindex", "-1");
});
