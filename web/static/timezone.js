// Sign-up: fill the hidden time zone field with the browser's own zone
// ("Europe/Berlin"), so times are right from the first page. The server checks the
// name against the zones it knows and keeps UTC for one it does not know; the
// profile shows the zone and lets the person change it.
(() => {
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    return;
  }
  document.querySelectorAll("input[data-browser-time-zone]").forEach((field) => {
    if (!field.value) {
      field.value = zone;
    }
  });
})();
