// A "Copy" button for a read-only value (an invitation's link). Without JavaScript, or
// without clipboard access, the button stays hidden and the value can be selected by hand.
(() => {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) {
      return;
    }
    const status = document.getElementById("copy-status");
    button.hidden = false;
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(source.value).then(
        () => { if (status) { status.textContent = "Copied."; } },
        () => {
          source.select();
          if (status) { status.textContent = "Select the link and copy it yourself."; }
        },
      );
    });
  });
})();
