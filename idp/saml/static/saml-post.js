// Submits the SAML auto-POST form; served as a file so the CSP needs no inline script.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("saml-post");
  if (form) { form.submit(); }
});
