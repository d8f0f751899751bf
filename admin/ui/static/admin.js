// Progressive enhancement only: every page works without this file.
// 1. User search refreshes its results while typing (the same results the form's GET gives).
// 2. A select marked data-autosubmit submits its form with the named action when changed.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live-search]");
  if (form) {
    var input = form.querySelector("input[type=search]");
    var target = document.getElementById("user-results");
    var timer = null;
    var latest = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var ticket = ++latest;
        var url = form.getAttribute("data-live-search") + "?partial=1&q=" + encodeURIComponent(input.value);
        fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (response) {
            if (response.redirected) { window.location.reload(); return null; }
            return response.ok ? response.text() : null;
          })
          .then(function (html) {
            if (html !== null && ticket === latest) {
              target.innerHTML = html;
              history.replaceState(null, "", "?q=" + encodeURIComponent(input.value));
            }
          })
          .catch(function () { /* the plain form still works */ });
      }, 200);
    });
  }
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      var button = select.form.querySelector("button[value='" + select.getAttribute("data-autosubmit") + "']");
      if (button) { button.click(); }
    });
  });
})();
