// "Find my settings" without leaving the page. The form works without this script
// (a plain POST that renders the whole page); here the same POST is fetched, the
// connect card is swapped for the one in the answer, and the button says it is busy
// meanwhile, since asking a provider's servers can take a few seconds.
(() => {
  const card = () => document.getElementById("connect");
  if (!card() || !window.fetch || !window.DOMParser) {
    return;
  }

  // "Find my settings" submits the connect form to the discovery (its formaction).
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    const button = event.submitter;
    if (!(form instanceof HTMLFormElement) || !button || button.dataset.action !== "find-settings") {
      return;
    }
    event.preventDefault();
    const result = document.getElementById("discovery");
    const field = form.elements.namedItem("email_address");
    const address = (field && field.value) || "";
    const domain = address.includes("@") ? address.split("@").pop() : "";
    if (button) {
      button.disabled = true;
      button.dataset.label = button.textContent;
      button.textContent = "Looking…";
    }
    const finder = document.getElementById("find-settings");
    if (finder) {
      finder.setAttribute("aria-busy", "true");
    }
    if (result && domain) {
      result.textContent = "";
      const looking = document.createElement("p");
      looking.className = "hint discovery-looking";
      looking.textContent = `Looking up the settings for ${domain}…`;
      result.append(looking);
    }
    try {
      const response = await fetch(button.formAction, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
      });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("connect");
      if (!fresh || (response.status !== 200 && response.status !== 400)) {
        throw new Error(`unexpected answer ${response.status}`);
      }
      card().replaceWith(document.importNode(fresh, true));
      const said = document.querySelector("#discovery .discovery");
      if (said) {
        said.tabIndex = -1;
        said.focus();
      }
    } catch (error) {
      // Whatever went wrong, the plain form still works: send it the ordinary way.
      form.action = button.formAction;
      form.noValidate = true;
      form.submit();
    }
  });
})();
