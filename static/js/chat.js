// Chat page: send with Enter, stream the answer in (server-sent events over fetch), Stop and Regenerate.
// On /chat/ the first message creates the conversation: the page then takes its address, lists it and offers
// renaming and deleting it. Photos go with a message through the "Photos" input (image-input.js); the page says when
// the model chosen cannot see them.
// Message HTML always comes from the server, which renders Markdown with any raw HTML escaped.
// Words come from Django's JavaScript catalogue (gettext), loaded before this script.
(function () {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const box = document.getElementById("id_content");
  const list = document.getElementById("messages");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");
  const regenerateButton = document.getElementById("regenerate");
  const errorLine = document.getElementById("chat-error");
  const conversationList = document.getElementById("conversation-list");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const photoInput = document.getElementById("id_photos");
  const photoZone = document.getElementById("drop-zone");
  const photos = window.imageInput(photoInput, photoZone, document.getElementById("chosen-files"));
  const modelChoice = document.getElementById("id_model");
  let streamingId = null;
  let controller = null;

  function bubble(role, html, photosHtml) {
    const item = document.createElement("li");
    item.className = `message ${role}`;
    const content = document.createElement("div");
    content.className = "content";
    content.innerHTML = html || "";
    item.appendChild(content);
    if (photosHtml) item.insertAdjacentHTML("beforeend", photosHtml);
    list.appendChild(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function note(item, text) {
    let line = item.querySelector(".note");
    if (!line) {
      line = document.createElement("p");
      line.className = "note";
      item.appendChild(line);
    }
    line.textContent = text;
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = !text;
  }

  // The model, the title box and Delete, as the conversation's own page has them: plain forms, now aimed at it.
  function showHeaderControls(conversation) {
    const model = document.getElementById("conversation-model");
    model.textContent = conversation.model;
    const renameForm = document.getElementById("rename-form");
    renameForm.action = conversation.rename_url;
    renameForm.elements.title.value = conversation.title;
    const deleteForm = document.getElementById("delete-form");
    deleteForm.action = conversation.delete_url;
    for (const element of [model, renameForm, deleteForm]) element.hidden = false;
  }

  // The first message made a conversation: send the next ones to it, give the page its address, list it.
  function adopt(conversation) {
    if (!conversation || form.action.endsWith(conversation.send_url)) return;
    form.action = conversation.send_url;
    form.dataset.regenerateUrl = conversation.regenerate_url;
    regenerateButton.setAttribute("formaction", conversation.regenerate_url);
    const modelChoice = form.querySelector(".model-choice");
    if (modelChoice) modelChoice.remove();
    history.replaceState(null, "", conversation.url);
    document.title = `${conversation.title} · ${document.title}`;
    document.querySelector(".conversation h1").textContent = conversation.title;
    showHeaderControls(conversation);
    const intro = document.getElementById("chat-intro");
    if (intro) intro.remove();
    const empty = document.getElementById("no-conversations");
    if (empty) empty.remove();
    const item = document.createElement("li");
    item.className = "current";
    const link = document.createElement("a");
    link.href = conversation.url;
    link.textContent = conversation.title;
    link.setAttribute("aria-current", "page");
    item.appendChild(link);
    conversationList.prepend(item);
    const newLink = document.querySelector(".conversations > a[aria-current]");
    if (newLink) newLink.removeAttribute("aria-current");
  }

  function busy(isBusy) {
    sendButton.disabled = isBusy;
    regenerateButton.disabled = isBusy;
    stopButton.hidden = !isBusy;
  }

  async function run(url, body, onAccepted) {
    showError("");
    busy(true);
    controller = new AbortController();
    let answer = null;
    let text = "";
    try {
      const response = await fetch(url, {
        method: "POST",
        body: body,
        headers: { Accept: "text/event-stream", "X-CSRFToken": csrf },
        signal: controller.signal,
      });
      if (!response.ok || !response.headers.get("Content-Type").startsWith("text/event-stream")) {
        const fallback = interpolate(gettext("The site answered %(status)s."), { status: response.status }, true);
        const problem = await response.json().catch(() => ({ error: fallback }));
        showError(problem.error);
        return;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const kind = (block.match(/^event: (.*)$/m) || [])[1];
          const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "{}");
          if (kind === "accepted") {
            onAccepted(data);
          } else if (kind === "start") {
            streamingId = data.message_id;
            answer = bubble("assistant streaming", "");
            answer.dataset.id = data.message_id;
          } else if (kind === "delta") {
            text += data.text;
            const content = answer.querySelector(".content");
            if (data.html !== undefined) content.innerHTML = data.html;
            else content.appendChild(document.createTextNode(data.text));
          } else if (kind === "tool") {
            note(answer, gettext("Looking at your predictions…"));
          } else if (kind === "done" || kind === "error") {
            answer.querySelector(".content").innerHTML = data.html || "";
            answer.className = `message assistant ${data.status}`;
            const old = answer.querySelector(".note");
            if (old) old.remove();
            if (kind === "error") {
              const how = data.status === "failed" ? gettext("Failed: %(reason)s") : gettext("Cut short: %(reason)s");
              note(answer, interpolate(how, { reason: data.message }, true));
            } else if (data.status === "incomplete") note(answer, gettext("Cut short"));
          }
        }
      }
    } catch (error) {
      if (answer && error.name === "AbortError") note(answer, gettext("Cut short"));
      else showError(gettext("The connection to the site broke; your message is kept. Reload the page to see it."));
    } finally {
      streamingId = null;
      controller = null;
      busy(false);
      regenerateButton.hidden = list.children.length === 0;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (controller) return;
    if (event.submitter === regenerateButton) {
      const last = list.lastElementChild;
      if (last && last.classList.contains("assistant")) last.remove();
      run(form.dataset.regenerateUrl, new FormData(), () => {});
      return;
    }
    if (!box.value.trim() && !photoInput.files.length) return;
    run(form.action, new FormData(form), (data) => {
      adopt(data.conversation);
      bubble("user", data.user_message.html, data.user_message.photos);
      box.value = "";
      photos.clear();
    });
  });

  // Whether the model to be chosen sees photos, as the page said for the first one.
  if (modelChoice) {
    const vision = form.dataset.visionModels.split(",");
    modelChoice.addEventListener("change", () => {
      document.getElementById("no-vision").hidden = vision.includes(modelChoice.value);
    });
  }

  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit(sendButton);
    }
  });

  stopButton.addEventListener("click", async () => {
    if (streamingId === null) {
      if (controller) controller.abort();
      return;
    }
    const url = form.dataset.stopUrl.replace("/0/", `/${streamingId}/`);
    await fetch(url, { method: "POST", headers: { "X-CSRFToken": csrf } }).catch(() => {});
    // The server ends the stream at its next look at the Stop flag; if the chat server hangs, stop waiting.
    const pending = controller;
    setTimeout(() => pending && pending === controller && pending.abort(), 3000);
  });
})();
