// The new-broadcast form counts its recipients as the segment changes. Without script the
// form's own count button does the same with a page load; this only saves the click.
(() => {
  "use strict";
  const form = document.querySelector("form.broadcast-form");
  const out = form && form.querySelector("#audience-count");
  const segment = form && form.querySelector("fieldset.segment");
  if (!out || !segment) return;
  let timer = 0;
  let asked = 0;

  const show = (count) => {
    out.dataset.count = String(count);
    const n = document.createElement("strong");
    n.textContent = String(count);
    out.replaceChildren(`${out.dataset.label}: `, n, out.dataset.people);
  };

  const recount = async () => {
    const mine = ++asked;
    const body = new URLSearchParams(new FormData(form));
    body.set("action", "count");
    try {
      const res = await fetch("/console/broadcasts/audience", { method: "POST", body });
      const answer = res.ok ? await res.json() : null;
      // A slower answer to an older question must not overwrite a newer one.
      if (mine !== asked) return;
      if (answer && Number.isInteger(answer.count)) {
        show(answer.count);
      } else {
        delete out.dataset.count;
        out.replaceChildren();
      }
    } catch {
      // Offline or signed out: the count button still works.
    }
  };

  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(recount, 400);
  };
  segment.addEventListener("input", soon);
  segment.addEventListener("change", soon);
})();
