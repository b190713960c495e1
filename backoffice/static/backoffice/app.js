// The back office works without JavaScript; this only adds comforts. No inline scripts anywhere
// (the Content Security Policy forbids them), so every hook is a data- attribute.
(function () {
  "use strict";

  // <form data-confirm="Really?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // <select data-autosubmit>: submit its form on change (the form keeps a button for keyboards).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) select.form.requestSubmit();
    });
  });

  // <button data-copy="#id">: copy the text of the element it names.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.querySelector(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        var done = button.getAttribute("data-copied");
        if (done) button.textContent = done;
      });
    });
  });

  // Move focus to the first field with an error, so keyboard and screen-reader users land on it.
  var invalid = document.querySelector("[aria-invalid='true']");
  if (invalid) invalid.focus();
})();
