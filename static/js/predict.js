// Predict page: its "Images" input takes photos chosen, dropped anywhere on the page or pasted (image-input.js).
(function () {
  "use strict";
  const input = document.getElementById("id_images");
  const zone = document.getElementById("drop-zone");
  const list = document.getElementById("chosen-files");
  if (input && zone && list) window.imageInput(input, zone, list);
})();
