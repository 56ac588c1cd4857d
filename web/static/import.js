// The contact import's progress bar: store the confirmed import slice by slice,
// asking the server for the next slice until it says the import is finished.
// Without scripts the form posts once and the server stores every slice itself.
(() => {
  const form = document.getElementById("import-confirm");
  if (!form || !window.fetch) {
    return;
  }
  const box = document.getElementById("import-progress");
  const bar = document.getElementById("import-progress-bar");
  const text = document.getElementById("import-progress-text");
  const button = form.querySelector("button[data-action=confirm-import]");
  const cancel = form.querySelector("button[data-action=cancel-import]");
  const lead = document.getElementById("import-lead");

  function show(done, total) {
    const percent = total ? Math.round((done / total) * 100) : 100;
    bar.max = 100;
    bar.value = percent;
    text.textContent = `Stored ${done.toLocaleString()} of ${total.toLocaleString()} ${form.dataset.unit || "rows"} (${percent}%)…`;
  }

  async function next() {
    const response = await fetch(form.dataset.stepUrl, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const answer = await response.json();
    if (!response.ok) {
      throw new Error(answer.error || "The import stopped.");
    }
    show(answer.done, answer.total);
    if (answer.finished) {
      text.textContent = "Done. Showing the result…";
      window.location.assign(answer.result);
      return;
    }
    await next();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    button.disabled = true;
    box.hidden = false;
    if (cancel) {
      cancel.hidden = true;
    }
    if (lead) {
      lead.textContent = "Storing your contacts. If you leave this page the import pauses; come back to it to finish.";
    }
    next().catch((error) => {
      text.textContent = `${error.message} Reload the page to carry on where it stopped.`;
      button.disabled = false;
    });
  });
})();
