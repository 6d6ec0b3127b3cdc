// churn-api demo page: plain JavaScript, no build step. Posts the form as JSON to {api}/predict and shows the
// score against the threshold, or each validation problem next to the field it concerns. Served from another
// origin it is a cross-origin client like any front end: the API must allow its origin (CORS), and a keyed API
// gets the key typed in the Connection card as the x-api-key header.
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
  // Longer than API Gateway's 29 s integration timeout: the API answers first unless it is not there at all.
  const TIMEOUT_MS = 35000;
  const keyInput = $("api-key");

  function apiKey() {
    return keyInput.value.trim();
  }

  // True when the API lives on another origin, where the browser enforces CORS.
  function crossOrigin() {
    try {
      return new URL(predictUrl, window.location.href).origin !== window.location.origin;
    } catch (_) {
      return false;
    }
  }

  // A blocked cross-origin call and an unreachable server fail alike in fetch(). A no-cors request tells them
  // apart: it succeeds (with an unreadable answer) whenever the server answers at all.
  async function answersAtAll() {
    try {
      await fetch(apiBase() + "/health", { mode: "no-cors", cache: "no-store" });
      return true;
    } catch (_) {
      return false;
    }
  }

  // The form's fields come from the API's OpenAPI document, served beside this page (openapi.json, a link to the
  // repository's docs/openapi.json): one per property of its Customer schema, named as the API names it and
  // prefilled with its example (the reference customer); categorical fields suggest the categories the model knows.
  const CONTRACT_URL = "openapi.json";
  const USAGE = /^(Day|Eve|Night|Intl) (Mins|Calls|Charge)$/;

  function fieldId(name) {
    return "f-" + name.toLowerCase().replace(/'/g, "").replace(/[^a-z0-9]+/g, "-");
  }

  function element(tag, attributes, text) {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
    if (text !== undefined) made.textContent = text;
    return made;
  }

  function buildField(name, schema, required) {
    const id = fieldId(name);
    const alternatives = schema.anyOf || [schema];
    const input = element("input", { id: id, name: name, autocomplete: "off", spellcheck: "false" });
    const example = (schema.examples || [])[0];
    if (example !== undefined && example !== null) input.defaultValue = String(example);
    if (alternatives.some((s) => s.type === "integer")) input.inputMode = "numeric";
    else if (alternatives.some((s) => s.type === "number")) input.inputMode = "decimal";
    const field = element("div", { class: "field" });
    field.append(element("label", { for: id }, name), input);
    const categories = alternatives.find((s) => Array.isArray(s.enum));
    if (categories) {
      const list = element("datalist", { id: id + "-options" });
      for (const value of categories.enum) list.append(element("option", { value: String(value) }));
      input.setAttribute("list", list.id);
      field.append(list);
    }
    // An optional field says what becomes of it; the API names the problem of any other.
    if (!required && schema.description) {
      field.append(element("p", { class: "hint", id: id + "-hint" }, schema.description));
      input.setAttribute("aria-describedby", id + "-hint");
    }
    field.append(element("p", { class: "field-error", id: id + "-error", hidden: "" }));
    return field;
  }

  async function buildForm() {
    const response = await fetch(CONTRACT_URL, { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const customer = (await response.json()).components.schemas.Customer;
    const required = customer.required || [];
    // The required fields in the API's order, then the optional ones (Phone).
    const names = required.concat(Object.keys(customer.properties).filter((name) => !required.includes(name)));
    for (const name of names) {
      const group = USAGE.test(name) ? $("usage-fields") : $("account-fields");
      group.append(buildField(name, customer.properties[name], required.includes(name)));
    }
    submit.disabled = false;
  }

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
    for (const input of document.querySelectorAll("input[aria-invalid]")) {
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
    // Which model gave the score: its version (the X-Model-Version header says the same) and, if named, its variant.
    const model = result.model || {};
    $("model-version").textContent = (model.version || "?") + (model.variant ? " (" + model.variant + ")" : "");
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

  // API Gateway's own 403 for a method that requires a key: the key is missing or not one the API knows.
  function isKeyRefusal(status, body) {
    return status === 403 && body && body.message === "Forbidden";
  }

  function showKeyRefusal() {
    const sent = apiKey() !== "";
    showFieldError(keyInput, sent ? "this key was refused" : "this API requires a key");
    showFailure(
      "API key " + (sent ? "refused" : "required"),
      (sent
        ? "The API did not accept the key in the Connection card."
        : "The API requires an x-api-key header: enter the key in the Connection card.") +
        " Locally it is the one the stack was started with (--api-key or CHURN_API_KEY)."
    );
    keyInput.focus();
  }

  // The API's error body: {"error": {"code", "message", "details": [{"field", "problem"}]}}; API Gateway's own
  // errors (403 for an unknown route or a missing key, 413, 429, 502) are {"message": ...}.
  function showError(status, body) {
    if (isKeyRefusal(status, body)) {
      showKeyRefusal();
      return;
    }
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
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (apiKey()) headers["x-api-key"] = apiKey();
    try {
      response = await fetch(predictUrl, {
        method: "POST",
        headers: headers,
        body: JSON.stringify(payload()),
        signal: abort.signal,
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
      await showFetchFailure(err, response);
    } finally {
      clearTimeout(timer);
      showMeta(response, started);
      submit.disabled = false;
      submit.textContent = "Score this customer";
    }
  }

  async function showFetchFailure(err, response) {
    if (response) {
      showFailure("Unreadable answer", "The API answered HTTP " + response.status + " but the body could not be read.");
    } else if (err.name === "AbortError") {
      showFailure("No answer in time", "No answer from " + predictUrl + " within " + TIMEOUT_MS / 1000 + " s.");
    } else if (crossOrigin() && (await answersAtAll())) {
      const here = window.location.origin;
      showFailure(
        "Blocked by CORS",
        "The API at " + new URL(predictUrl, window.location.href).origin + " answered, but it does not allow " +
          "calls from this page's origin, " + here + ". Start the local stack with --cors-origin " + here +
          ", or deploy with CorsAllowOrigin=" + here + "."
      );
    } else {
      showFailure(
        "Cannot reach the API",
        "No answer from " + predictUrl + " (" + err.message + "). Is the local stack running, and is this its URL?"
      );
    }
  }

  buildForm().catch((err) => {
    resetResult();
    showFailure("Cannot build the form", "The API's OpenAPI document (" + CONTRACT_URL + ") could not be read: " +
      err.message + ".");
  });
  form.addEventListener("submit", score);
  form.addEventListener("reset", () => {
    clearFieldErrors();
  });
})();
