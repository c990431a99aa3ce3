// The unblurred view (SPEC S6): for accounts holding the privilege only. The picture is asked
// for with a stated reason, shown from memory in a dialog and dropped when the dialog closes;
// the server journals each view and sends it with Cache-Control: no-store.
(function () {
  "use strict";
  var dialog = document.getElementById("unblurred-dialog");
  if (!dialog) return;
  var form = dialog.querySelector("form");
  var reason = dialog.querySelector("textarea[name=reason]");
  var title = dialog.querySelector(".unblurred-camera");
  var image = dialog.querySelector("img");
  var message = dialog.querySelector(".unblurred-message");
  var camera = null;
  var objectUrl = null;

  function forget() {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    image.removeAttribute("src");
    image.hidden = true;
  }

  document.querySelectorAll("button[data-unblurred]").forEach(function (button) {
    button.addEventListener("click", function () {
      camera = button.getAttribute("data-unblurred");
      title.textContent = camera;
      message.textContent = "";
      reason.value = "";
      forget();
      form.hidden = false;
      dialog.showModal();
      reason.focus();
    });
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    message.textContent = "Asking the camera…";
    fetch("/api/cameras/" + encodeURIComponent(camera) + "/unblurred", {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": document.body.dataset.csrf },
      body: JSON.stringify({ reason: reason.value }),
    }).then(function (r) {
      if (!r.ok) {
        return r.json().then(function (j) {
          var d = j.detail;
          throw new Error(typeof d === "string" ? d : "refused (" + r.status + ")");
        }, function () { throw new Error("refused (" + r.status + ")"); });
      }
      return r.blob();
    }).then(function (blob) {
      forget();
      objectUrl = URL.createObjectURL(blob);
      image.src = objectUrl;
      image.hidden = false;
      form.hidden = true;
      message.textContent = "This view is journaled with your reason. Nothing of it is kept.";
    }).catch(function (err) {
      message.textContent = err.message;
    });
  });

  dialog.addEventListener("close", forget);
  dialog.querySelector("button.close").addEventListener("click", function () { dialog.close(); });
})();
