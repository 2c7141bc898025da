// A form sent once: a second click (or Enter) while the first is on its way is ignored, so a double
// click does not start two cases or complete a task twice. The server still refuses what it must; this
// only spares the user a second case and a confusing error page.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.sent === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  form.setAttribute("aria-busy", "true");
  // Sent again after the page was kept by the browser's back/forward cache: allowed.
  window.addEventListener("pageshow", function () {
    form.dataset.sent = "";
    form.removeAttribute("aria-busy");
  }, { once: true });
});
