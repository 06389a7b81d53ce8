/* modelhub pages: copy buttons, confirmations, and resumable uploads (tus 1.0). */
(function () {
  "use strict";

  var CHUNK_SIZE = 16 * 1024 * 1024;
  var RETRY_DELAYS = [1000, 3000, 5000, 10000, 20000, 30000];

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function humanSize(bytes) {
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    var value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit === 0 ? bytes + " bytes" : value.toFixed(1) + " " + units[unit];
  }

  /* Copy buttons: data-copy names the element whose text they copy. */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "absolute";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      document.body.removeChild(area);
      if (copied) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function setUpCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.querySelector(button.getAttribute("data-copy"));
        if (!source) { return; }
        var label = button.textContent;
        copyText(source.textContent).then(function () {
          button.textContent = "Copied";
        }, function () {
          button.textContent = "Select and copy";
        }).then(function () {
          window.setTimeout(function () { button.textContent = label; }, 2000);
        });
      });
    });
  }

  /* Forms that ask before they act: data-confirm holds the question. */
  function setUpConfirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  /* -- tus 1.0 client (core and creation) ---------------------------------- */

  function base64(text) {
    var bytes = new TextEncoder().encode(text), binary = "";
    bytes.forEach(function (b) { binary += String.fromCharCode(b); });
    return window.btoa(binary);
  }

  function request(method, url, headers, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      Object.keys(headers).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
      if (onProgress && xhr.upload) {
        xhr.upload.addEventListener("progress", function (event) { onProgress(event.loaded); });
      }
      xhr.onload = function () { resolve(xhr); };
      xhr.onerror = function () { reject(new Error("network")); };
      xhr.ontimeout = function () { reject(new Error("network")); };
      xhr.send(body === undefined ? null : body);
    });
  }

  function problem(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body.detail) { return body.detail; }
      return Object.keys(body).map(function (k) { return k + ": " + body[k]; }).join(" ");
    } catch (e) {
      return "The server answered " + xhr.status + ".";
    }
  }

  function Upload(panel) {
    this.panel = panel;
    this.model = panel.getAttribute("data-model");
    this.endpoint = new URL(panel.getAttribute("data-endpoint"), window.location.href).href;
    this.input = panel.querySelector('input[type="file"]');
    this.button = panel.querySelector("[data-upload-start]");
    this.progress = panel.querySelector("progress");
    this.status = panel.querySelector("[data-upload-status]");
    this.running = false;
    var self = this;
    this.button.addEventListener("click", function () { self.start(); });
  }

  Upload.prototype.say = function (text) { this.status.textContent = text; };

  Upload.prototype.show = function (sent) {
    var size = this.file.size;
    var percent = size ? Math.floor((sent / size) * 100) : 100;
    this.progress.parentNode.hidden = false;
    this.progress.value = percent;
    this.progress.setAttribute("aria-valuenow", String(percent));
    this.progress.setAttribute("aria-valuetext", percent + "% (" + humanSize(sent) + " of " + humanSize(size) + ")");
    this.say("Uploading: " + percent + "% (" + humanSize(sent) + " of " + humanSize(size) + ")");
  };

  Upload.prototype.key = function () {
    var f = this.file;
    return "modelhub-upload:" + [this.model, f.name, f.size, f.lastModified].join(":");
  };

  Upload.prototype.start = function () {
    if (this.running) { return; }
    this.file = this.input.files && this.input.files[0];
    if (!this.file) { this.say("Choose a file first."); this.input.focus(); return; }
    if (this.file.size === 0) { this.say("This file is empty; choose another."); return; }
    this.running = true;
    this.button.disabled = true;
    this.attempt = 0;
    var self = this;
    this.run().then(function (done) {
      self.running = false;
      self.button.disabled = false;
      if (done) {
        self.say("Upload complete: the file is attached. Reloading the page…");
        window.setTimeout(function () { window.location.reload(); }, 1200);
      }
    });
  };

  /* Resume where the server says the upload stands, or create it; then send. */
  Upload.prototype.run = function () {
    var self = this;
    return this.locate().then(function (offset) {
      return self.send(offset);
    }).catch(function (error) {
      if (error.message === "network" && self.attempt < RETRY_DELAYS.length) {
        var wait = RETRY_DELAYS[self.attempt];
        self.attempt += 1;
        self.say("The connection dropped; trying again in " + Math.round(wait / 1000) + " s…");
        return new Promise(function (resolve) { window.setTimeout(resolve, wait); }).then(function () {
          return self.run();
        });
      }
      if (error.message === "network") {
        self.say("The connection dropped. Press Upload again to resume where it stopped.");
      } else {
        self.say("The upload failed: " + error.message);
      }
      return false;
    });
  };

  Upload.prototype.locate = function () {
    var self = this, stored = window.localStorage.getItem(this.key());
    if (stored) {
      return request("HEAD", stored, {}).then(function (xhr) {
        var offset = xhr.getResponseHeader("Upload-Offset");
        if (xhr.status >= 200 && xhr.status < 300 && offset !== null) {
          self.url = stored;
          return parseInt(offset, 10);
        }
        if (xhr.status >= 500) { throw new Error("network"); }
        window.localStorage.removeItem(self.key());
        return self.create();
      });
    }
    return this.create();
  };

  Upload.prototype.create = function () {
    var self = this;
    var metadata = "model " + base64(this.model) + ",filename " + base64(this.file.name);
    return request("POST", this.endpoint, {
      "Upload-Length": String(this.file.size),
      "Upload-Metadata": metadata
    }).then(function (xhr) {
      if (xhr.status >= 500) { throw new Error("network"); }
      var location = xhr.getResponseHeader("Location");
      if (xhr.status !== 201 || !location) { throw new Error(problem(xhr)); }
      self.url = new URL(location, self.endpoint).href;
      window.localStorage.setItem(self.key(), self.url);
      return 0;
    });
  };

  Upload.prototype.send = function (offset) {
    var self = this, size = this.file.size;
    this.show(offset);
    if (offset >= size) { return this.finish(); }
    var end = Math.min(offset + CHUNK_SIZE, size);
    return request("PATCH", this.url, {
      "Upload-Offset": String(offset),
      "Content-Type": "application/offset+octet-stream"
    }, this.file.slice(offset, end), function (loaded) {
      self.show(offset + loaded);
    }).then(function (xhr) {
      if (xhr.status >= 500) { throw new Error("network"); }
      if (xhr.status === 409) { return self.resync(offset, xhr); }
      if (xhr.status !== 204) {
        window.localStorage.removeItem(self.key());
        throw new Error(problem(xhr));
      }
      self.attempt = 0;
      var next = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
      if (next >= size) { return self.finish(); }
      return self.send(next);
    });
  };

  /* 409: the server holds another offset (then go on from there), or the
     model refused the file (then say why). */
  Upload.prototype.resync = function (sent, refusal) {
    var self = this;
    return request("HEAD", this.url, {}).then(function (xhr) {
      var offset = xhr.getResponseHeader("Upload-Offset");
      if (xhr.status >= 200 && xhr.status < 300 && offset !== null && parseInt(offset, 10) !== sent) {
        return self.send(parseInt(offset, 10));
      }
      window.localStorage.removeItem(self.key());
      throw new Error(problem(refusal));
    });
  };

  Upload.prototype.finish = function () {
    window.localStorage.removeItem(this.key());
    this.show(this.file.size);
    return true;
  };

  function setUpUploads() {
    document.querySelectorAll("[data-upload]").forEach(function (panel) { new Upload(panel); });
  }

  function start() {
    setUpCopyButtons();
    setUpConfirmations();
    setUpUploads();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
