// Drag and drop on a meeting's questions. The arrow buttons do the same without
// JavaScript; this only adds a quicker way for a mouse: on drop, the new order goes
// into the form's "order" field and the form is saved, with what was typed.
(() => {
  const list = document.getElementById("prepare-questions");
  const form = document.getElementById("prepare-form");
  const order = document.getElementById("question-order");
  if (!list || !form || !order || list.children.length < 2) {
    return;
  }
  let dragged = null;

  document.querySelectorAll(".js-only").forEach((element) => {
    element.hidden = false;
  });
  Array.from(list.children).forEach((item) => {
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
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.dataset.questionId || "");
    item.classList.add("dragging");
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

  list.addEventListener("drop", (event) => {
    if (!dragged) {
      return;
    }
    event.preventDefault();
    dragged.classList.remove("dragging");
    dragged = null;
    order.value = Array.from(list.children)
      .map((item) => item.dataset.questionId)
      .join(",");
    form.requestSubmit(form.querySelector('button[value="save"]'));
  });

  list.addEventListener("dragend", () => {
    if (dragged) {
      dragged.classList.remove("dragging");
      dragged = null;
    }
  });
})();
