// Images into a file input, as Predict and the chat take them: chosen (or taken with the phone's camera), dropped
// anywhere on the page or pasted; the chosen files are listed by name and size.
// Words come from Django's JavaScript catalogue (gettext), loaded before this script.
window.imageInput = function (input, zone, list) {
  "use strict";

  function showChosen() {
    list.replaceChildren();
    for (const file of input.files) {
      const item = document.createElement("li");
      const name = file.name || gettext("pasted image");
      const size = Math.ceil(file.size / 1024).toLocaleString(document.documentElement.lang);
      item.textContent = interpolate(gettext("%(name)s (%(size)s KB)"), { name: name, size: size }, true);
      list.appendChild(item);
    }
  }

  function addFiles(files) {
    const transfer = new DataTransfer();
    for (const file of input.files) transfer.items.add(file);
    for (const file of files) {
      if (file.type.startsWith("image/") || /\.(heic|heif)$/i.test(file.name)) transfer.items.add(file);
    }
    input.files = transfer.files;
    showChosen();
  }

  input.addEventListener("change", showChosen);
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  document.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) zone.classList.remove("dragging");
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) addFiles(event.dataTransfer.files);
  });
  document.addEventListener("paste", (event) => {
    const files = event.clipboardData ? Array.from(event.clipboardData.files) : [];
    if (files.length) {
      event.preventDefault();
      addFiles(files);
    }
  });

  return {
    clear() {
      input.value = "";
      showChosen();
    },
  };
};
