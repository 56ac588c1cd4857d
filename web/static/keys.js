// Keyboard shortcuts for people who keep up with many drafts: "?" lists them
// (templates/_shortcuts.html). None fires while the person types in a field, or
// with Ctrl, Alt or Cmd held, so the browser's own shortcuts stay theirs.
(() => {
  const help = document.getElementById("shortcuts");
  const pages = document.getElementById("go-to-pages");
  const showButton = document.getElementById("show-shortcuts");
  if (!help || !pages) {
    return;
  }
  // How long after "g" the second key still counts.
  const GO_WINDOW_MS = 1500;
  let goPressedAt = 0;
  let current = null;

  // Made on the first word to say, so a page has no second status region until then.
  let status = null;
  const say = (words) => {
    if (!status) {
      status = document.createElement("p");
      status.id = "key-status";
      status.className = "visually-hidden";
      status.setAttribute("role", "status");
      document.body.appendChild(status);
    }
    status.textContent = "";
    // A fresh text, so a screen reader announces the same words twice in a row too.
    window.setTimeout(() => { status.textContent = words; }, 30);
  };

  const typing = (target) => {
    if (!(target instanceof Element)) {
      return false;
    }
    if (target.isContentEditable) {
      return true;
    }
    const field = target.closest("input, textarea, select");
    if (!field) {
      return false;
    }
    const type = (field.getAttribute("type") || "text").toLowerCase();
    // A checkbox or a button takes no text: j and k may move on from it.
    return !["checkbox", "radio", "button", "submit", "reset"].includes(type);
  };

  // The things j and k move between: drafts on the drafts page, rows on the board.
  const items = () => {
    const drafts = document.querySelectorAll("#drafts article.draft");
    if (drafts.length) {
      return Array.from(drafts);
    }
    return Array.from(document.querySelectorAll("#status-board tbody tr")).filter(
      (row) => row.offsetParent !== null,
    );
  };

  const select = (item) => {
    if (current) {
      current.classList.remove("key-current");
    }
    current = item;
    item.classList.add("key-current");
    if (!item.hasAttribute("tabindex")) {
      item.setAttribute("tabindex", "-1");
    }
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest", behavior: "auto" });
  };

  const move = (step) => {
    const all = items();
    if (!all.length) {
      say("Nothing here to move between.");
      return;
    }
    const focused = all.find((item) => item.contains(document.activeElement));
    const from = focused || (all.includes(current) ? current : null);
    const index = from ? all.indexOf(from) + step : step > 0 ? 0 : all.length - 1;
    select(all[Math.max(0, Math.min(all.length - 1, index))]);
  };

  const currentDraft = () => {
    const focused = document.activeElement ? document.activeElement.closest("article.draft") : null;
    return focused || (current && current.matches("article.draft") ? current : null);
  };

  const approve = () => {
    const draft = currentDraft();
    if (!draft) {
      say("Move to a draft first with j or k.");
      return;
    }
    const button = draft.querySelector('button[data-action="approve"]');
    if (!button || button.disabled) {
      say("This draft cannot be approved yet: it says why above its text.");
      return;
    }
    button.click();
  };

  const edit = () => {
    const draft = currentDraft();
    const link = draft ? draft.querySelector('a[data-action="edit"]') : null;
    if (!link) {
      say("Move to a draft first with j or k.");
      return;
    }
    link.click();
  };

  const openHelp = () => {
    if (!help.open) {
      help.showModal();
    }
  };

  if (showButton) {
    showButton.hidden = false;
    showButton.addEventListener("click", openHelp);
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (typing(event.target) || help.open) {
      return;
    }
    const key = event.key;
    if (goPressedAt && Date.now() - goPressedAt < GO_WINDOW_MS) {
      goPressedAt = 0;
      const address = pages.dataset[key];
      if (address) {
        event.preventDefault();
        window.location.assign(address);
      }
      return;
    }
    goPressedAt = 0;
    const actions = {
      "?": openHelp,
      j: () => move(1),
      k: () => move(-1),
      a: approve,
      e: edit,
      g: () => { goPressedAt = Date.now(); },
    };
    if (key === "Enter" && current && current.matches("tr") && document.activeElement === current) {
      const link = current.querySelector("td.contact a");
      if (link) {
        event.preventDefault();
        link.click();
      }
      return;
    }
    const action = actions[key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
})();
