// Ask before a form marked data-confirm is sent (discarding a draft cannot be undone).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Drag and drop on a target's list. The arrow buttons do the same without JavaScript;
// this only adds a quicker way for a mouse, posting the new place of the name dragged.
(() => {
  const list = document.getElementById("target-names");
  if (!list || list.children.length < 2) {
    return;
  }
  const status = document.getElementById("order-status");
  const token = document.querySelector('input[name="csrf_token"]');
  let dragged = null;
  let startIndex = -1;

  const items = () => Array.from(list.children);
  const say = (words) => {
    if (status) {
      status.textContent = words;
    }
  };

  // After a move, the arrows must post the places next to the new one.
  const renumber = () => {
    const all = items();
    all.forEach((item, index) => {
      const up = item.querySelector(".move-up");
      const down = item.querySelector(".move-down");
      if (up) {
        up.querySelector('input[name="position"]').value = String(index);
        up.querySelector("button").disabled = index === 0;
      }
      if (down) {
        down.querySelector('input[name="position"]').value = String(index + 2);
        down.querySelector("button").disabled = index === all.length - 1;
      }
    });
  };

  document.querySelectorAll(".js-only").forEach((element) => {
    element.hidden = false;
  });
  items().forEach((item) => {
    item.draggable = true;
    item.classList.add("draggable");
    const handle = item.querySelector(".drag-handle");
    if (handle) {
      handle.hidden = false;
    }
  });

  list.addEventListener("dragstart", (event) => {
    const item = event.target.closest ? event.target.closest("li") : null;
    if (!item || item.parentElement !== list) {
      return;
    }
    dragged = item;
    startIndex = items().indexOf(item);
    item.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.dataset.contactId);
  });

  list.addEventListener("dragover", (event) => {
    if (!dragged) {
      return;
    }
    event.preventDefault();
    const over = event.target.closest ? event.target.closest("li") : null;
    if (!over || over === dragged || over.parentElement !== list) {
      return;
    }
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextSibling : over);
  });

  const finish = (event) => {
    if (!dragged) {
      return;
    }
    if (event.type === "drop") {
      event.preventDefault();
    }
    const item = dragged;
    dragged = null;
    item.classList.remove("dragging");
    const index = items().indexOf(item);
    if (index === startIndex) {
      return;
    }
    const moveUrl = item.querySelector(".entry-actions").dataset.moveUrl;
    const body = new FormData();
    body.append("csrf_token", token ? token.value : "");
    body.append("position", String(index + 1));
    list.setAttribute("aria-busy", "true");
    fetch(moveUrl, {
      method: "POST",
      body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then((response) =>
        // A refused token answers with a page, not JSON: the generic sentence then.
        response
          .json()
          .catch(() => ({}))
          .then((answer) => ({ ok: response.ok, answer })),
      )
      .then(({ ok, answer }) => {
        if (!ok) {
          throw new Error(answer.error || "The new order was not saved.");
        }
        renumber();
        say(answer.message);
      })
      .catch((problem) => {
        // Put the name back where the server still has it.
        const others = items().filter((other) => other !== item);
        list.insertBefore(item, others[startIndex] || null);
        renumber();
        say(`${problem.message} Please reload the page and try again.`);
      })
      .finally(() => {
        list.removeAttribute("aria-busy");
      });
  };
  list.addEventListener("drop", finish);
  list.addEventListener("dragend", finish);
})();

// A search box over a long list of checkboxes: shows only the names that match.
document.querySelectorAll("input[data-filters]").forEach((box) => {
  const target = document.getElementById(box.dataset.filters);
  if (!target) {
    return;
  }
  box.hidden = false;
  box.addEventListener("input", () => {
    const wanted = box.value.trim().toLowerCase();
    Array.from(target.children).forEach((item) => {
      item.hidden = wanted !== "" && !item.textContent.toLowerCase().includes(wanted);
    });
  });
});
