// churn-api demo page: plain JavaScript, no build step. Posts the form as JSON to {api}/predict and shows the
// score against the threshold, or each validation problem next to the field it concerns.
"use strict";

(function () {
  const form = document.getElementById("customer-form");
  const submit = document.getElementById("submit");
  const $ = (id) => document.getElementById(id);

  // The API's base URL: ?api=http://host:port when the page is served from elsewhere, else this page's origin.
  function apiBase() {
    const given = new URLSearchParams(window.location.search).get("api");
    return (given || "").replace(/\/+$/, "");
  }

  const predictUrl = apiBase() + "/predict";
  $("endpoint-url").textContent = "POST " + (apiBase() || window.location.origin) + "/predict";

  function fieldInput(name) {
    return Array.from(form.elements).find((el) => el.name === name) || null;
  }

  // Every value is sent as the string typed, like the reference payload; an empty field is left out so that the
  // API, not the page, says it is required.
  function payload() {
    const body = {};
    for (const [name, value] of new FormData(form)) {
      const text = String(value).trim();
      if (text !== "") body[name] = text;
    }
    return body;
  }

  function clearFieldErrors() {
    for (const input of form.querySelectorAll("input[aria-invalid]")) {
      input.removeAttribute("aria-invalid");
      const error = $(input.id + "-error");
      error.hidden = true;
      error.textContent = "";
      const hint = input.getAttribute("aria-describedby") || "";
      const kept = hint.split(" ").filter((id) => id && id !== error.id);
      if (kept.length) input.setAttribute("aria-describedby", kept.join(" "));
      else input.removeAttribute("aria-describedby");
    }
  }

  function showFieldError(input, problem) {
    const error = $(input.id + "-error");
    error.textContent = error.hidden ? problem : error.textContent + "; " + problem;
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (!described.includes(error.id)) input.setAttribute("aria-describedby", described.concat(error.id).join(" "));
  }

  function resetResult() {
    $("result-placeholder").hidden = true;
    $("prediction").hidden = true;
    $("failure").hidden = true;
  }

  function showMeta(response, started) {
    const ms = Math.round(performance.now() - started);
    const requestId = response && response.headers.get("x-amzn-RequestId");
    $("meta").textContent =
      (response ? "HTTP " + response.status + " in " + ms + " ms" : "no answer after " + ms + " ms") +
      (requestId ? " · request id " + requestId : "");
    $("meta").hidden = false;
  }

  function showRaw(text) {
    $("raw-body").textContent = text;
    $("raw").hidden = false;
  }

  function showPrediction(result) {
    const score = Number(result.score);
    const threshold = Number(result.threshold);
    const churn = result.churn === true;
    $("verdict-badge").textContent = churn ? "Will churn" : "Will stay";
    $("verdict-badge").className = "badge " + (churn ? "badge-churn" : "badge-stay");
    $("verdict-text").textContent =
      "score " + score.toFixed(3) + (churn ? " is above " : " is not above ") + "the threshold " + threshold;
    $("label-value").textContent = JSON.stringify(result.label);
    $("score-value").textContent = String(score);
    $("threshold-value").textContent = String(threshold);
    $("gauge-fill").style.width = (score * 100).toFixed(2) + "%";
    $("gauge-fill").className = "gauge-fill " + (churn ? "fill-churn" : "fill-stay");
    $("gauge-threshold").style.left = (threshold * 100).toFixed(2) + "%";
    $("gauge-threshold-label").textContent = "threshold " + threshold;
    $("gauge").setAttribute(
      "aria-label",
      "Churn score " + score.toFixed(3) + " on a scale from 0 to 1, threshold " + threshold
    );
    $("prediction").hidden = false;
  }

  function showFailure(title, message) {
    $("failure-title").textContent = title;
    $("failure-message").textContent = message;
    $("failure").hidden = false;
  }

  // The API's error body: {"error": {"code", "message", "details": [{"field", "problem"}]}}; API Gateway's own
  // errors (403 for an unknown route, 502) are {"message": ...}.
  function showError(status, body) {
    const error = (body && body.error) || {};
    const details = Array.isArray(error.details) ? error.details : [];
    let placed = 0;
    const elsewhere = [];
    for (const detail of details) {
      const input = fieldInput(detail.field);
      if (input) {
        showFieldError(input, detail.problem);
        placed += 1;
      } else {
        elsewhere.push((detail.field ? detail.field + ": " : "") + detail.problem);
      }
    }
    const code = error.code || "HTTP " + status;
    const message = error.message || (body && body.message) || "The API answered with an error.";
    const summary = placed ? " " + placed + (placed === 1 ? " field needs" : " fields need") + " attention." : "";
    const sentence = message.charAt(0).toUpperCase() + message.slice(1).replace(/\.?$/, ".");
    showFailure(code, sentence + summary + (elsewhere.length ? " " + elsewhere.join("; ") : ""));
    const firstInvalid = form.querySelector("input[aria-invalid='true']");
    if (firstInvalid) firstInvalid.focus();
  }

  async function score(event) {
    event.preventDefault();
    clearFieldErrors();
    resetResult();
    submit.disabled = true;
    submit.textContent = "Scoring…";
    const started = performance.now();
    let response = null;
    try {
      response = await fetch(predictUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload()),
      });
      const text = await response.text();
      showRaw(text);
      let body = null;
      try {
        body = JSON.parse(text);
      } catch (_) {
        body = null;
      }
      if (response.ok && body && typeof body.score === "number") showPrediction(body);
      else showError(response.status, body);
    } catch (err) {
      showFailure(
        "Cannot reach the API",
        "No answer from " + predictUrl + " (" + err.message + "). Is the local stack running, and does the API " +
          "allow this page's origin?"
      );
    } finally {
      showMeta(response, started);
      submit.disabled = false;
      submit.textContent = "Score this customer";
    }
  }

  form.addEventListener("submit", score);
  form.addEventListener("reset", () => {
    clearFieldErrors();
  });
})();
