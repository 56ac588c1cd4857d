// The composer: a time chosen is written into the answer as a question, where the
// user can see and change it. Without this script the server adds the same sentence.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form) return;
  var body = form.querySelector("textarea[name='body']");
  var written = form.querySelector("input[name='time_in_text']");
  var added = "";
  form.querySelectorAll("input[name='slot']").forEach(function (choice) {
    choice.addEventListener("change", function () {
      var sentence = choice.getAttribute("data-sentence") || "";
      var text = body.value;
      if (added && text.indexOf(added) !== -1) {
        text = text.replace(added, "").replace(/\s+$/, "");
      }
      if (sentence) {
        text = text ? text + "\n\n" + sentence : sentence;
      }
      body.value = text;
      added = sentence;
      written.value = sentence ? "1" : "";
    });
  });
})();
