// The status board keeps itself up to date without a reload.
//
// Every few seconds it asks /board/live (with the page's own filter and page)
// whether anything changed, sending the version it shows as If-None-Match: an
// unchanged board answers 304 with no body. A changed one answers with the
// parts marked data-live-region, which replace the parts with the same id.
// The filter form is never replaced, so a half-made choice survives; focus,
// scroll position and the URL stay where they were. Polling stops while the
// tab is hidden and resumes, with an immediate check, when it is shown again.
// Without JavaScript the board is the same page, current as of its loading.
(() => {
  const root = document.getElementById("board-live");
  if (!root || !window.fetch || !window.DOMParser) {
    return;
  }
  const status = document.getElementById("board-live-status");
  const seconds = Number(root.dataset.pollSeconds) || 5;
  let version = root.dataset.version || "";
  let timer = null;
  let busy = false;
  let stopped = false;

  // Each part's markup as the server last sent it, to replace only the parts that changed.
  const served = new Map();
  document.querySelectorAll("[data-live-region]").forEach((region) => {
    served.set(region.id, region.innerHTML);
  });

  const rowKey = (row) => `${row.dataset.contactId}:${row.dataset.targetId}`;

  // The rows shown, by contact and target: their state, name and state in words.
  const rowsShown = () => {
    const rows = new Map();
    document.querySelectorAll("#status-board tbody tr[data-contact-id]").forEach((row) => {
      const name = row.querySelector(".contact");
      const label = row.querySelector(".state");
      rows.set(rowKey(row), {
        state: row.dataset.state,
        name: name ? name.textContent.trim() : "",
        label: label ? label.textContent.trim() : row.dataset.state,
      });
    });
    return rows;
  };

  // What identifies the focused element well enough to find its twin in new markup.
  const focusKey = (element) => ({
    id: element.id,
    tag: element.tagName,
    href: element.getAttribute("href"),
    text: element.textContent.trim(),
  });

  const findTwin = (region, key) => {
    if (key.id) {
      return document.getElementById(key.id);
    }
    const same = Array.from(region.querySelectorAll(key.tag)).filter(
      (element) => element.getAttribute("href") === key.href,
    );
    return same.find((element) => element.textContent.trim() === key.text) || same[0] || null;
  };

  const say = (words) => {
    if (status && words) {
      const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      status.textContent = `Updated at ${time}: ${words}`;
    }
  };

  // "Tom Okafor: now replied." for one change; the first few names for more.
  const describeChanges = (before, after) => {
    const changes = [];
    after.forEach((row, key) => {
      const old = before.get(key);
      if (!old || old.state !== row.state) {
        changes.push(`${row.name}: now ${row.label}`);
      }
    });
    before.forEach((row, key) => {
      if (!after.has(key)) {
        changes.push(`${row.name} moved off this page`);
      }
    });
    if (changes.length === 0) {
      return "";
    }
    if (changes.length <= 3) {
      return `${changes.join("; ")}.`;
    }
    return `${changes.length} changes, among them ${changes.slice(0, 2).join("; ")}.`;
  };

  const markChanged = (before) => {
    document.querySelectorAll("#status-board tbody tr[data-contact-id]").forEach((row) => {
      const old = before.get(rowKey(row));
      if (!old || old.state !== row.dataset.state) {
        row.classList.add("row-changed");
      }
    });
  };

  const swap = (fresh) => {
    const before = rowsShown();
    const active = document.activeElement;
    const region = active && active.closest ? active.closest("[data-live-region]") : null;
    const key = region ? focusKey(active) : null;
    const { scrollX, scrollY } = window;

    const replaced = new Set();
    fresh.querySelectorAll("[data-live-region]").forEach((incoming) => {
      const current = document.getElementById(incoming.id);
      // A part that did not change stays as it is, so nobody reading it loses their place.
      if (current && served.get(incoming.id) !== incoming.innerHTML) {
        served.set(incoming.id, incoming.innerHTML);
        current.replaceWith(document.importNode(incoming, true));
        replaced.add(incoming.id);
      }
    });

    if (region && key && replaced.has(region.id)) {
      const newRegion = document.getElementById(region.id);
      const twin = newRegion ? findTwin(newRegion, key) : null;
      if (twin) {
        twin.focus({ preventScroll: true });
      } else if (newRegion) {
        // What had focus is gone: keep focus near where it was, not on the page's start.
        newRegion.tabIndex = -1;
        newRegion.focus({ preventScroll: true });
      }
    }
    window.scrollTo(scrollX, scrollY);

    const drafts = document.getElementById("pending-drafts-count");
    const waiting = fresh.dataset.pendingDrafts;
    if (drafts && waiting !== undefined) {
      drafts.textContent = waiting;
      drafts.title = `${waiting} waiting for your approval`;
      drafts.classList.toggle("count-active", waiting !== "0");
    }
    markChanged(before);
    say(describeChanges(before, rowsShown()));
  };

  const schedule = () => {
    window.clearTimeout(timer);
    if (!stopped && document.visibilityState !== "hidden") {
      timer = window.setTimeout(check, seconds * 1000);
    }
  };

  const check = () => {
    if (busy || stopped || document.visibilityState === "hidden") {
      return;
    }
    busy = true;
    fetch(root.dataset.liveUrl + window.location.search, {
      headers: { "If-None-Match": `"${version}"`, Accept: "text/html" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then((response) => {
        if (response.status === 304) {
          return null;
        }
        if (response.redirected) {
          // Signed out (in another tab, or the session ended): the next reload says so.
          stopped = true;
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then((html) => {
        if (!html) {
          return;
        }
        const answer = new DOMParser().parseFromString(html, "text/html");
        const fresh = answer.getElementById("board-live");
        if (!fresh) {
          return;
        }
        if (fresh.dataset.layout !== "board") {
          // No names left, or the first steps are back: that is another page.
          stopped = true;
          window.location.reload();
          return;
        }
        version = fresh.dataset.version || version;
        root.dataset.version = version;
        swap(fresh);
      })
      // A network hiccup or a server restart: simply ask again next time.
      .catch(() => {})
      .finally(() => {
        busy = false;
        schedule();
      });
  };

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      window.clearTimeout(timer);
    } else {
      check();
    }
  });
  schedule();
})();
