// Small behaviours the server-rendered pages rely on.
// Live fragments arrive over the page's one websocket (htmx ws extension) and are
// swapped in by id; this only keeps keyboard focus sensible after a swap.
document.addEventListener("htmx:oobAfterSwap", (event) => {
  const target = event.detail.target;
  if (target && target.id === "live-notice") target.setAttribute("tabindex", "-1");
});

// A form with data-carry="#other-form", when submitted, also sends the other form's text
// fields (those it has none of its own by that name; never files), so the page returned
// after a failed submit can show both forms as they were. The server validates only the
// submitted one. (htmx requests from inside the form build their data without a submit
// event, so they carry nothing.)
let submitting = null;
document.addEventListener("submit", (event) => {
  submitting = event.target;
});
document.addEventListener("formdata", (event) => {
  const form = event.target;
  const other = form.dataset?.carry && document.querySelector(form.dataset.carry);
  if (form !== submitting) return;
  submitting = null; // new FormData(other) below fires this event again, for the other form
  if (!other) return;
  const own = new Set(event.formData.keys());
  for (const [name, value] of new FormData(other)) {
    if (!own.has(name) && typeof value === "string") event.formData.append(name, value);
  }
});

// A select with data-autosubmit sends its form when changed (the workspace switcher);
// without scripts, the form's own button does it.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLSelectElement && "autosubmit" in field.dataset) field.form?.requestSubmit();
});
