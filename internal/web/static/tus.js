// Resumable evidence uploads for Corridor's staff site: a small tus 1.0.0
// client (creation, core; https://tus.io/protocols/resumable-upload),
// written here and served by the binary like everything else. It is loaded
// only by the upload page, which works without it: the plain form above it
// needs no script at all.
//
// Each file is sent in PATCH chunks; each acknowledged chunk is on the
// server's disk. When a request fails (the link drops, the server is
// restarting or sealed) it waits, asks the server how much it has (HEAD)
// and goes on from there. The upload's address is kept in localStorage
// under a hash of the file's name, size and date, so choosing the same
// file again after the page was closed resumes it; the name itself is
// never stored in the browser.
(function () {
  "use strict";
  var section = document.getElementById("resumable");
  if (!section || !window.XMLHttpRequest || !window.Promise || !window.TextEncoder ||
      !window.crypto || !window.crypto.subtle || !window.localStorage) {
    return;
  }
  var form = document.getElementById("tus-form");
  var input = document.getElementById("tus-files");
  var list = document.getElementById("tus-list");
  var startButton = document.getElementById("tus-start");
  var csrf = form.elements.csrf.value;
  var endpoint = section.dataset.endpoint;
  var caseID = section.dataset["case"];
  var chunkSize = parseInt(section.dataset.chunk, 10) || 8 << 20;
  // Waits between attempts; the last one repeats, up to maxAttempts in a
  // row without progress.
  var delays = [1000, 2000, 5000, 10000, 20000, 30000, 60000];
  var maxAttempts = 60;

  function msg(name) {
    return section.dataset["msg" + name] || name;
  }

  function base64(s) {
    var bytes = new TextEncoder().encode(s);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin);
  }

  function fingerprint(file) {
    var s = [caseID, file.name, file.size, file.lastModified, file.type].join("\n");
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)).then(function (h) {
      var hex = "";
      new Uint8Array(h).forEach(function (b) { hex += (b < 16 ? "0" : "") + b.toString(16); });
      return "corridor-tus:" + hex;
    });
  }

  // failure is a refused or failed request; retry says whether waiting
  // and trying again can help.
  function failure(xhr) {
    var status = xhr ? xhr.status : 0;
    var text = xhr ? (xhr.responseText || "").slice(0, 200) : "";
    var e = new Error(status ? status + " " + text : "network");
    e.retry = status === 0 || status === 408 || status === 409 || status === 423 || status === 429 || status >= 500;
    return e;
  }

  function request(method, url, headers, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open(method, url);
      x.setRequestHeader("Tus-Resumable", "1.0.0");
      Object.keys(headers).forEach(function (k) { x.setRequestHeader(k, headers[k]); });
      if (onProgress && x.upload) {
        x.upload.onprogress = function (e) { onProgress(e.loaded); };
      }
      x.onload = function () { resolve(x); };
      x.onerror = x.ontimeout = x.onabort = function () { reject(failure(null)); };
      x.send(body === undefined ? null : body);
    });
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function row(file) {
    var li = document.createElement("li");
    var name = document.createElement("span");
    name.textContent = file.name + " ";
    var bar = document.createElement("progress");
    bar.max = file.size;
    bar.value = 0;
    var status = document.createElement("span");
    status.className = "meta";
    status.textContent = " " + msg("Waiting");
    li.appendChild(name);
    li.appendChild(bar);
    li.appendChild(status);
    list.appendChild(li);
    return {
      li: li,
      show: function (state, offset) {
        status.textContent = " " + state;
        if (offset !== undefined) {
          bar.value = offset;
        }
        li.dataset.state = state;
      },
      progress: function (offset) { bar.value = offset; }
    };
  }

  function uploadFile(file, ui) {
    var key = null;
    var url = null;
    var attempts = 0;

    function create() {
      var meta = "filename " + base64(file.name) +
        ",filetype " + base64(file.type || "application/octet-stream") +
        ",case " + base64(caseID);
      return request("POST", endpoint, {
        "Upload-Length": String(file.size),
        "Upload-Metadata": meta,
        "X-CSRF-Token": csrf
      }).then(function (x) {
        if (x.status !== 201 || !x.getResponseHeader("Location")) {
          throw failure(x);
        }
        url = new URL(x.getResponseHeader("Location"), location.href).href;
        localStorage.setItem(key, url);
        return 0;
      });
    }

    // offset asks how much the server has; null if it no longer knows
    // the upload (expired, or never finished creating).
    function offset() {
      return request("HEAD", url, {}).then(function (x) {
        if (x.status === 404 || x.status === 410 || x.status === 403) {
          return null;
        }
        if (x.status !== 200 && x.status !== 204) {
          throw failure(x);
        }
        return parseInt(x.getResponseHeader("Upload-Offset"), 10);
      });
    }

    function begin() {
      if (!url) {
        return create();
      }
      return offset().then(function (o) {
        if (o === null || isNaN(o)) {
          localStorage.removeItem(key);
          url = null;
          return create();
        }
        return o;
      });
    }

    function send(from) {
      ui.show(msg("Sending"), from);
      if (from >= file.size) {
        // The server reports the whole length only once the file is
        // stored in the vault.
        return Promise.resolve();
      }
      var to = Math.min(from + chunkSize, file.size);
      return request("PATCH", url, {
        "Upload-Offset": String(from),
        "Content-Type": "application/offset+octet-stream",
        "X-CSRF-Token": csrf
      }, file.slice(from, to), function (n) { ui.progress(from + n); }).then(function (x) {
        if (x.status !== 204) {
          throw failure(x);
        }
        attempts = 0;
        return send(parseInt(x.getResponseHeader("Upload-Offset"), 10));
      });
    }

    function run() {
      return begin().then(send).catch(function (e) {
        if (!e.retry || attempts >= maxAttempts) {
          throw e;
        }
        ui.show(msg("Retrying"));
        var wait = delays[Math.min(attempts, delays.length - 1)];
        attempts++;
        return sleep(wait).then(run);
      });
    }

    return fingerprint(file).then(function (k) {
      key = k;
      url = localStorage.getItem(key);
      return run();
    }).then(function () {
      localStorage.removeItem(key);
      ui.show(msg("Done"), file.size);
    }, function (e) {
      ui.show(msg("Failed") + ": " + e.message);
      throw e;
    });
  }

  section.hidden = false;
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var files = Array.prototype.slice.call(input.files);
    if (!files.length) {
      return;
    }
    startButton.disabled = true;
    input.disabled = true;
    list.textContent = "";
    var rows = files.map(row);
    var failed = false;
    files.reduce(function (chain, file, i) {
      return chain.then(function () {
        return uploadFile(file, rows[i]).catch(function () { failed = true; });
      });
    }, Promise.resolve()).then(function () {
      startButton.disabled = false;
      input.disabled = false;
      if (!failed) {
        location.assign(section.dataset.done);
      }
    });
  });
}());
