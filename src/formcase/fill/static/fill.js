// The contact's fill page (formcase): one step at a time through the fill API under
// {page}/api/ (docs/fill-api.md). The server renders every step and element; this script
// loads the saved answers, shows and hides what the answers decide, checks each step before
// saving it, uploads files, takes the signature and submits. No library, no build step.
"use strict";

(() => {
  const page = JSON.parse(document.getElementById("fill-data").textContent);
  const T = page.texts;
  const pagePath = location.pathname.replace(/\/+$/, "");
  const API = pagePath + "/api/";
  const TYPED = new Set([
    "text", "textarea", "email", "phone", "number", "date", "checkbox", "choices",
    "multiple_choice", "iban",
  ]);
  const steps = page.steps;
  const elements = new Map();
  for (const step of steps) {
    for (const element of step.elements) {
      if (element.key) elements.set(element.key, element);
    }
  }

  const $ = (id) => document.getElementById(id);
  const form = $("fill-form");
  const backButton = $("back");
  const nextButton = $("next");
  const review = $("review");
  const summary = $("error-summary");
  const declineOpen = $("decline-open");
  const dialog = $("decline-dialog");

  let data = {}; // the answers: the server's, overlaid with what is typed in the page
  let files = {}; // element key -> [{id, name, type, size, preview}]
  let signatures = {}; // element key -> the signature made
  let documents = {}; // element key -> [{index, name, url, ready}]
  let current = 0; // index of the step shown, or "review"
  let backToReview = false; // editing a step from the review
  let busy = false;
  const pads = new Map();

  const format = (text, values) =>
    text.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));

  // ---- conditions: the same rules as formcase.kit.conditions --------------------------
  const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

  function lookup(object, key) {
    if (object && own(object, key)) return object[key] === undefined ? null : object[key];
    let node = object;
    for (const part of key.split(".")) {
      if (node === null || typeof node !== "object" || Array.isArray(node) || !own(node, part)) {
        return null;
      }
      node = node[part];
    }
    return node === undefined ? null : node;
  }

  const NUMERIC = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

  function asNumber(value) {
    if (typeof value === "number") return value;
    if (typeof value === "string" && NUMERIC.test(value)) return parseFloat(value);
    return null;
  }

  function equals(value, target) {
    if (Array.isArray(value)) return value.some((item) => equals(item, target));
    if ((typeof value === "boolean") !== (typeof target === "boolean")) return false;
    const left = asNumber(value);
    const right = asNumber(target);
    if (left !== null && right !== null) return left === right;
    if (value === null || target === null || typeof value !== "object") return value === target;
    return JSON.stringify(value) === JSON.stringify(target);
  }

  const isEmpty = (value) =>
    value === null || value === undefined || value === "" ||
    (Array.isArray(value) && value.length === 0);

  function evaluate(condition, answers) {
    if (!condition) return true;
    if (!own(condition, "field")) {
      if (condition.all) return condition.all.every((part) => evaluate(part, answers));
      if (condition.any) return condition.any.some((part) => evaluate(part, answers));
      if (own(condition, "not")) return !evaluate(condition.not, answers);
      return true;
    }
    const value = lookup(answers, condition.field);
    if (own(condition, "defined")) return !isEmpty(value) === condition.defined;
    if (own(condition, "eq")) return equals(value, condition.eq);
    if (own(condition, "ne")) return !equals(value, condition.ne);
    if (own(condition, "in")) return (condition.in || []).some((option) => equals(value, option));
    const greater = own(condition, "gt");
    const bound = greater ? condition.gt : condition.lt;
    let left = asNumber(value);
    let right = asNumber(bound);
    if (left === null || right === null) {
      if (typeof value !== "string" || typeof bound !== "string") return false;
      [left, right] = [value, bound]; // ISO dates compare as text
    }
    return greater ? left > right : left < right;
  }

  const stepShown = (step) => evaluate(step.visible_if, data);
  const elementShown = (element) => evaluate(element.visible_if, data);
  const shownSteps = () => steps.map((step, index) => index).filter((i) => stepShown(steps[i]));

  // ---- reading and writing the controls ---------------------------------------------
  const wrapper = (key) => $("w-" + key);
  const control = (key) => $("f-" + key);

  function readValue(element) {
    const box = wrapper(element.key);
    const input = control(element.key);
    switch (element.type) {
      case "checkbox":
        return input.checked;
      case "choices": {
        const chosen = box.querySelector("input:checked");
        return chosen ? chosen.value : null;
      }
      case "multiple_choice":
        return Array.from(box.querySelectorAll("input:checked"), (item) => item.value);
      case "number": {
        const raw = input.value.trim().replace(",", ".");
        if (!raw) return null;
        return NUMERIC.test(raw) && Number.isFinite(Number(raw)) ? Number(raw) : raw;
      }
      case "phone": {
        const raw = input.value.trim();
        const compact = raw.replace(/[\s().-]/g, "");
        return raw ? (/^\+\d+$/.test(compact) ? compact : raw) : null;
      }
      case "iban": {
        const raw = input.value.trim();
        return raw ? raw.replace(/[\s-]/g, "").toUpperCase() : null;
      }
      case "email":
      case "text":
      case "date":
        return input.value.trim() || null;
      default:
        return input.value === "" ? null : input.value;
    }
  }

  function writeValue(element, value) {
    const box = wrapper(element.key);
    const input = control(element.key);
    if (!box || !input) return;
    switch (element.type) {
      case "checkbox":
        input.checked = value === true;
        break;
      case "choices":
      case "multiple_choice": {
        const chosen = Array.isArray(value) ? value.map(String) : value === null ? [] : [String(value)];
        for (const item of box.querySelectorAll("input")) item.checked = chosen.includes(item.value);
        break;
      }
      default:
        input.value = value === null || typeof value === "object" ? "" : String(value);
    }
  }

  // What is typed in the page counts at once, for the conditions and the review.
  function readAll() {
    for (const element of elements.values()) {
      if (!TYPED.has(element.type) || !wrapper(element.key)) continue;
      const value = readValue(element);
      // An untouched empty field stays absent, as on the server ("defined" tells them apart).
      if ((value === false || isEmpty(value)) && !own(data, element.key)) continue;
      data[element.key] = value;
    }
  }

  function refreshVisibility() {
    for (const element of elements.values()) {
      if (!element.visible_if) continue;
      const box = wrapper(element.key);
      if (box) box.hidden = !elementShown(element);
    }
    updateProgress();
  }

  // ---- validation: the rules of formcase.templates.format.check_value, or looser where only
  // the server can judge (whether a phone number exists, an IBAN country's length and format)

  // The check digits only: the country's length and format are the server's to check, from
  // the IBAN registry (formcase.kit.iban), so that no copy of it here can disagree.
  function ibanValid(value) {
    const iban = value.replace(/[\s.-]/g, "").toUpperCase();
    if (!/^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$/.test(iban)) return false;
    let remainder = 0; // mod 97 of the digits, letters as 10..35, country moved to the end
    for (const char of iban.slice(4) + iban.slice(0, 4)) {
      const digits = char >= "A" ? String(char.charCodeAt(0) - 55) : char;
      for (const digit of digits) remainder = (remainder * 10 + Number(digit)) % 97;
    }
    return remainder === 1;
  }

  function fullMatch(pattern, value) {
    for (const flags of ["u", ""]) {
      try {
        return new RegExp("^(?:" + pattern + ")$", flags).test(value);
      } catch (error) {
        // a Python pattern JavaScript cannot read: the server will judge
      }
    }
    return true;
  }

  function decimalsOf(raw) {
    const text = String(raw).toLowerCase();
    const [mantissa, exponent] = text.split("e");
    const fraction = (mantissa.split(".")[1] || "").replace(/0+$/, "");
    return Math.max(0, fraction.length - Number(exponent || 0));
  }

  function problem(element) {
    const key = element.key;
    if (element.type === "file") {
      return element.required && !(files[key] || []).length ? T.err_required : null;
    }
    if (element.type === "signature") {
      return element.required && !signatures[key] ? T.err_signature_required : null;
    }
    const value = readValue(element);
    if (isEmpty(value) || (element.type === "checkbox" && value !== true)) {
      return element.required ? T.err_required : null;
    }
    switch (element.type) {
      case "text":
      case "textarea": {
        const length = Array.from(value).length;
        if (element.min_length != null && length < element.min_length) {
          return format(T.err_min_length, { n: element.min_length });
        }
        if (element.max_length != null && length > element.max_length) {
          return format(T.err_max_length, { n: element.max_length });
        }
        if (element.pattern && !fullMatch(element.pattern, value)) return T.err_pattern;
        return null;
      }
      case "email":
        return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value) ? null : T.err_email;
      case "phone":
        // Only what no phone number looks like: whether it is one (and, written without its
        // country code, in which country) is the server's call, with libphonenumber.
        return /^(\+|00)?[0-9]{6,17}$/.test(value.replace(/[\s().\/-]/g, "")) ? null : T.err_phone;
      case "number": {
        if (typeof value !== "number") return T.err_number;
        if (element.min != null && value < Number(element.min)) {
          return format(T.err_min, { n: element.min });
        }
        if (element.max != null && value > Number(element.max)) {
          return format(T.err_max, { n: element.max });
        }
        const raw = control(key).value.trim().replace(",", ".");
        if (element.decimals != null && decimalsOf(raw) > element.decimals) {
          return element.decimals === 0
            ? T.err_integer
            : format(T.err_decimals, { n: element.decimals });
        }
        return null;
      }
      case "date":
        if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value))) {
          return T.err_date;
        }
        if (element.min != null && value < String(element.min)) {
          return format(T.err_date_min, { date: localDate(String(element.min)) });
        }
        if (element.max != null && value > String(element.max)) {
          return format(T.err_date_max, { date: localDate(String(element.max)) });
        }
        return null;
      case "choices":
        return element.options.some((option) => option.value === value) ? null : T.err_choice;
      case "multiple_choice":
        if (element.min_selections != null && value.length < element.min_selections) {
          return format(T.err_min_selections, { n: element.min_selections });
        }
        if (element.max_selections != null && value.length > element.max_selections) {
          return format(T.err_max_selections, { n: element.max_selections });
        }
        return null;
      case "iban":
        return ibanValid(value) ? null : T.err_iban;
      default:
        return null;
    }
  }

  // Dates as written in Europe: "21 November 2026", not the American order.
  const INTL_LOCALE = page.page_locale === "en" ? "en-GB" : page.page_locale;

  function localDate(iso) {
    try {
      return new Intl.DateTimeFormat(INTL_LOCALE, { dateStyle: "long", timeZone: "UTC" })
        .format(new Date(iso + "T00:00:00Z"));
    } catch (error) {
      return iso;
    }
  }

  function localMoment(iso) {
    try {
      return new Intl.DateTimeFormat(INTL_LOCALE, { dateStyle: "long", timeStyle: "short" })
        .format(new Date(iso));
    } catch (error) {
      return String(iso);
    }
  }

  function sizeText(size) {
    const units = T.size_units.split(",");
    let value = size;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    const digits = unit === 0 || value >= 10 ? 0 : 1;
    const number = new Intl.NumberFormat(INTL_LOCALE, { maximumFractionDigits: digits });
    return number.format(value) + " " + units[unit];
  }

  // ---- errors --------------------------------------------------------------------------
  function focusable(key) {
    const box = wrapper(key);
    if (!box) return null;
    return box.querySelector("input:not([type=hidden]), textarea, select") || control(key);
  }

  function setError(element, message) {
    const box = wrapper(element.key);
    const text = $("e-" + element.key);
    if (!box || !text) return;
    text.textContent = message || "";
    text.hidden = !message;
    box.classList.toggle("invalid", Boolean(message));
    for (const item of box.querySelectorAll("input, textarea")) {
      if (item.classList.contains("pad-typed")) continue;
      if (message) item.setAttribute("aria-invalid", "true");
      else item.removeAttribute("aria-invalid");
    }
    if (!message) {
      // A corrected field leaves the summary too; an empty summary goes away.
      const entry = summary.querySelector('li[data-key="' + element.key + '"]');
      if (entry) entry.remove();
      if (!summary.querySelector("li")) clearSummary();
    }
  }

  function showSummary(title, items) {
    const list = summary.querySelector("ul");
    $("error-summary-title").textContent = title;
    list.replaceChildren();
    for (const item of items) {
      const entry = document.createElement("li");
      if (item.key) {
        entry.dataset.key = item.key;
        const link = document.createElement("a");
        link.href = "#f-" + item.key;
        link.textContent = item.label + ": " + item.message;
        link.addEventListener("click", (event) => {
          event.preventDefault();
          const target = focusable(item.key);
          if (target) target.focus();
        });
        entry.append(link);
      } else {
        entry.textContent = item.message;
      }
      list.append(entry);
    }
    summary.hidden = false;
  }

  function clearSummary() {
    summary.hidden = true;
    summary.querySelector("ul").replaceChildren();
  }

  function showProblem(message) {
    showSummary(T.problem_title, [{ message }]);
    summary.focus();
  }

  // The server names each refused field ("'iban' is not a valid IBAN …; 'age' must …"): put
  // its verdict next to the field, in the contact's language where we have the words.
  const SERVER_WORDS = {
    email: "err_email", phone: "err_phone", number: "err_number", date: "err_date",
    choices: "err_choice", iban: "err_iban",
  };

  // The server names each field it refuses: errors[].source.pointer is /data/<key>.
  function serverProblems(index, errors) {
    const found = [];
    for (const error of errors || []) {
      const pointer = error && error.source && error.source.pointer;
      const element = pointer && pointer.startsWith("/data/") && elements.get(pointer.slice(6));
      if (!element || !steps[index].elements.includes(element)) return [];
      const words = SERVER_WORDS[element.type];
      const reason = String(error.detail || "").replace(/^'[^']+' /, "");
      const text = words ? T[words] : reason.charAt(0).toUpperCase() + reason.slice(1) + ".";
      setError(element, text);
      found.push({ key: element.key, label: element.label, message: text });
    }
    return found;
  }

  function validateStep(index) {
    const found = [];
    for (const element of steps[index].elements) {
      if (!element.key || element.type === "paragraph") continue;
      const message = elementShown(element) ? problem(element) : null;
      setError(element, message);
      if (message) found.push({ key: element.key, label: element.label, message });
    }
    return found;
  }

  // ---- talking to the server ------------------------------------------------------------
  function stop(title, text, canRetry) {
    form.hidden = true;
    $("progress").hidden = true;
    $("loading").hidden = true;
    $("decline-line").hidden = true;
    clearSummary();
    $("stopped-title").textContent = title;
    $("stopped-text").textContent = text;
    $("retry").hidden = !canRetry;
    showScreen("stopped");
  }

  // A 409 or 410: the form was completed, declined, withdrawn or expired meanwhile. The page
  // itself says which, in the contact's language; asked once, so that it cannot loop.
  function refused(body) {
    const mark = "formcase-refused:" + pagePath;
    let last = 0;
    try {
      last = Number(sessionStorage.getItem(mark) || 0);
      sessionStorage.setItem(mark, String(Date.now()));
    } catch (error) {
      last = Date.now(); // no storage: say it here instead
    }
    if (Date.now() - last > 15000) {
      location.replace(location.pathname + location.search);
      return;
    }
    stop(T.refused_title, (body && body.message) || "", false);
  }

  async function call(path, body) {
    let response;
    try {
      response = await fetch(API + path, {
        method: "POST",
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (error) {
      return { ok: false, message: T.err_network };
    }
    let json = null;
    try {
      json = await response.json();
    } catch (error) {
      json = null;
    }
    if (response.ok) return { ok: true, body: json || {} };
    if (response.status === 409 || response.status === 410) {
      refused(json);
      return { ok: false, refused: true };
    }
    const message = json && json.message ? json.message : format(T.err_status, { status: response.status });
    return { ok: false, message, errors: json && json.errors, status: response.status };
  }

  function applyState(state) {
    const response = state.response || {};
    data = Object.assign({}, response.data || {});
    signatures = Object.assign({}, response.signatures || {});
    documents = Object.assign({}, (state.template && state.template.documents) || {});
    const known = response.files || {};
    files = {};
    for (const element of elements.values()) {
      if (element.type !== "file") continue;
      // The answer holds the files that count (a single-file field keeps the last one).
      const value = lookup(data, element.key);
      const ids = (Array.isArray(value) ? value : isEmpty(value) ? [] : [value]).map(String);
      const listed = Array.isArray(known[element.key]) ? known[element.key] : [];
      files[element.key] = ids.map((id) => {
        const file = listed.find((item) => String(item.id) === id);
        return file ? Object.assign({}, file, { id }) : { id, name: T.file_generic };
      });
    }
  }

  // ---- steps ----------------------------------------------------------------------------
  function sectionOf(index) {
    return index === "review" ? review : $("step-" + index);
  }

  function showScreen(id) {
    for (const screen of ["done", "declined", "stopped"]) $(screen).hidden = screen !== id;
    const heading = $(id + "-title");
    if (heading) heading.focus();
    window.scrollTo(0, 0);
  }

  function updateProgress() {
    const shown = shownSteps();
    const text = $("progress-text");
    const bar = $("progress-bar");
    if (current === "review") {
      text.textContent = T.review_progress;
      bar.max = 1;
      bar.value = 1;
      return;
    }
    const position = Math.max(0, shown.indexOf(current));
    text.textContent = format(T.step_of, { n: position + 1, m: shown.length });
    bar.max = shown.length + 1; // the review is the last stretch
    bar.value = position + 1;
  }

  function updateButtons() {
    const first = shownSteps()[0];
    backButton.hidden = current === first;
    nextButton.textContent = current === "review" ? T.submit : T.next;
  }

  function show(index, focus) {
    for (let i = 0; i < steps.length; i++) sectionOf(i).hidden = i !== index;
    review.hidden = index !== "review";
    current = index;
    if (index === "review") buildReview();
    updateProgress();
    updateButtons();
    if (index !== "review") {
      for (const element of steps[index].elements) {
        if (element.type === "signature") {
          const pad = pads.get(element.key);
          if (pad) pad.resize();
          if ((documents[element.key] || []).some((document) => !document.ready)) {
            refreshDocuments();
          }
        }
      }
    }
    if (focus) {
      const heading = $(index === "review" ? "review-title" : "step-" + index + "-title");
      heading.focus();
      window.scrollTo(0, 0);
    }
  }

  function nextShown(after) {
    return shownSteps().find((index) => index > after);
  }

  function firstIncomplete(after) {
    // Without touching the page: which later step still lacks an answer it needs?
    return shownSteps().find(
      (index) =>
        index > after &&
        steps[index].elements.some((element) => element.key && elementShown(element) && problem(element)),
    );
  }

  function setBusy(on, label) {
    busy = on;
    nextButton.disabled = on;
    backButton.disabled = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
    if (label) nextButton.textContent = label;
    else updateButtons();
  }

  async function saveStep() {
    readAll();
    refreshVisibility();
    const index = current;
    const found = validateStep(index);
    if (found.length) {
      showSummary(T.errors_title, found);
      const target = focusable(found[0].key);
      if (target) target.focus();
      return;
    }
    clearSummary();
    const answers = {};
    for (const element of steps[index].elements) {
      if (element.key && TYPED.has(element.type) && elementShown(element)) {
        answers[element.key] = readValue(element);
      }
    }
    setBusy(true, T.saving);
    const result = await call("steps/" + encodeURIComponent(steps[index].id), { data: answers });
    setBusy(false);
    if (!result.ok) {
      if (result.refused) return;
      const found = serverProblems(index, result.errors);
      if (!found.length) {
        showProblem(format(T.err_server, { message: result.message }));
        return;
      }
      showSummary(T.errors_title, found);
      const target = focusable(found[0].key);
      if (target) target.focus();
      return;
    }
    // The server's answers, with what is typed in the page (other steps' too) on top; the
    // files and signatures known here stay (a step's answer does not repeat them).
    const saved = (result.body.response && result.body.response.data) || {};
    data = Object.assign({}, saved, data);
    refreshVisibility();
    let target;
    if (backToReview) {
      target = firstIncomplete(index);
      if (target === undefined) backToReview = false;
    } else {
      target = nextShown(index);
    }
    show(target === undefined ? "review" : target, true);
  }

  async function submit() {
    clearSummary();
    for (const index of shownSteps()) {
      if (validateStep(index).length) {
        show(index, true);
        await saveStep(); // shows the errors of that step
        return;
      }
    }
    setBusy(true, T.sending);
    const result = await call("submit");
    if (!result.ok) {
      setBusy(false);
      if (!result.refused) showProblem(result.message);
      return;
    }
    const redirect = result.body.redirect_url;
    form.hidden = true;
    $("progress").hidden = true;
    $("decline-line").hidden = true;
    if (redirect && /^https?:\/\//i.test(redirect)) {
      $("done-text").textContent = T.redirecting;
      showScreen("done");
      window.location.assign(redirect);
      return;
    }
    showScreen("done");
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (busy) return;
    if (current === "review") submit();
    else saveStep();
  });

  backButton.addEventListener("click", () => {
    if (busy) return;
    readAll();
    clearSummary();
    const shown = shownSteps();
    const before = current === "review" ? shown[shown.length - 1] : shown.filter((i) => i < current).pop();
    if (before !== undefined) show(before, true);
  });

  // Answers change what is shown as they are typed; a corrected field loses its error.
  function onChange(event) {
    const box = event.target.closest("[data-key]");
    if (!box || !elements.has(box.dataset.key)) return;
    const element = elements.get(box.dataset.key);
    if (!TYPED.has(element.type)) return;
    data[element.key] = readValue(element);
    refreshVisibility();
    if (box.classList.contains("invalid")) setError(element, problem(element));
  }
  form.addEventListener("input", onChange);
  form.addEventListener("change", onChange);

  // ---- review ---------------------------------------------------------------------------
  function answerText(element) {
    const key = element.key;
    if (element.type === "file") {
      const list = files[key] || [];
      return list.length ? list.map((file) => file.name).join(", ") : T.not_answered;
    }
    if (element.type === "signature") {
      const signature = signatures[key];
      if (!signature) return T.not_answered;
      return signature.created_at
        ? format(T.sig_signed_at, { date: localMoment(signature.created_at) })
        : T.sig_signed;
    }
    const value = readValue(element);
    if (element.type === "checkbox") return value ? T.yes : T.no;
    if (isEmpty(value)) return T.not_answered;
    const labelOf = (chosen) => {
      const option = element.options.find((item) => item.value === chosen);
      return option ? option.label : chosen;
    };
    if (element.type === "choices") return labelOf(value);
    if (element.type === "multiple_choice") return value.map(labelOf).join(", ");
    if (element.type === "date") return localDate(value);
    if (element.type === "iban") return value.replace(/(.{4})(?=.)/g, "$1 "); // as printed
    return String(value);
  }

  function buildReview() {
    const holder = review.querySelector(".review-steps");
    holder.replaceChildren();
    for (const index of shownSteps()) {
      const step = steps[index];
      const part = document.createElement("section");
      part.className = "review-step";
      const head = document.createElement("div");
      head.className = "review-head";
      const title = document.createElement("h3");
      title.textContent = step.title;
      const edit = document.createElement("button");
      edit.type = "button";
      edit.className = "link";
      edit.textContent = T.edit;
      edit.setAttribute("aria-label", format(T.edit_step, { step: step.title }));
      edit.addEventListener("click", () => {
        backToReview = true;
        show(index, true);
      });
      head.append(title, edit);
      const list = document.createElement("dl");
      for (const element of step.elements) {
        if (!element.key || element.type === "paragraph" || !elementShown(element)) continue;
        const term = document.createElement("dt");
        term.textContent = element.label;
        const answer = document.createElement("dd");
        answer.textContent = answerText(element);
        list.append(term, answer);
      }
      part.append(head, list);
      holder.append(part);
    }
  }

  // ---- files ----------------------------------------------------------------------------
  function accepted(element, file) {
    const accept = element.accept || [];
    if (!accept.length || !file.type) return true; // no type known here: the server detects it
    return accept.some((wanted) =>
      wanted.endsWith("/*") ? file.type.startsWith(wanted.slice(0, -1)) : file.type === wanted,
    );
  }

  function setFileValue(element) {
    const ids = (files[element.key] || []).map((file) => file.id);
    data[element.key] = element.multiple ? ids : ids[0] || null;
  }

  // What the picker says next to its button: the files chosen, or that there are none.
  function showChosen(element, names) {
    const chosen = $("c-" + element.key);
    if (chosen) chosen.textContent = names.length ? names.join(", ") : T.file_none;
  }

  function renderFiles(element) {
    const box = wrapper(element.key);
    const list = box.querySelector(".files");
    showChosen(element, (files[element.key] || []).map((file) => file.name));
    list.replaceChildren();
    for (const file of files[element.key] || []) {
      const item = document.createElement("li");
      const isImage = (file.type || "").startsWith("image/");
      if (isImage) {
        const image = document.createElement("img");
        image.className = "thumb";
        image.alt = "";
        image.src = file.preview || API + "files/" + encodeURIComponent(file.id);
        image.addEventListener("error", () => image.remove());
        item.append(image);
      }
      const name = document.createElement("span");
      name.className = "file-name";
      name.textContent = file.name;
      item.append(name);
      if (file.size != null) {
        const size = document.createElement("span");
        size.className = "file-size";
        size.textContent = sizeText(file.size);
        item.append(size);
      }
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.textContent = T.file_remove;
      remove.setAttribute("aria-label", format(T.file_remove_named, { name: file.name }));
      remove.addEventListener("click", () => removeFile(element, file));
      item.append(remove);
      list.append(item);
    }
  }

  async function removeFile(element, file) {
    const status = wrapper(element.key).querySelector(".status");
    let response;
    try {
      response = await fetch(
        API + "files/" + encodeURIComponent(element.key) + "/" + encodeURIComponent(file.id),
        { method: "DELETE", credentials: "same-origin", cache: "no-store" },
      );
    } catch (error) {
      status.textContent = format(T.file_remove_failed, { name: file.name, message: T.err_network });
      return;
    }
    if (response.status === 409 || response.status === 410) {
      refused(await response.json().catch(() => null));
      return;
    }
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      const message = body && body.message ? body.message : format(T.err_status, { status: response.status });
      status.textContent = format(T.file_remove_failed, { name: file.name, message });
      return;
    }
    files[element.key] = (files[element.key] || []).filter((item) => item.id !== file.id);
    setFileValue(element);
    renderFiles(element);
    status.textContent = format(T.file_removed, { name: file.name });
    refreshVisibility();
  }

  function upload(element, file, progress) {
    return new Promise((resolve) => {
      const request = new XMLHttpRequest(); // fetch cannot report upload progress
      request.open("POST", API + "files/" + encodeURIComponent(element.key));
      request.responseType = "json";
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) progress.value = (100 * event.loaded) / event.total;
      });
      request.addEventListener("load", () => resolve({ status: request.status, body: request.response }));
      request.addEventListener("error", () => resolve({ status: 0, body: null }));
      const body = new FormData();
      body.append("file", file, file.name);
      request.send(body);
    });
  }

  async function onFiles(element, chosen) {
    const box = wrapper(element.key);
    const status = box.querySelector(".status");
    const progress = box.querySelector(".upload-progress");
    if (!element.multiple) chosen = chosen.slice(0, 1);
    if (!chosen.length) return;
    showChosen(element, chosen.map((file) => file.name));
    try {
      await uploadAll(element, chosen, status, progress);
    } finally {
      showChosen(element, (files[element.key] || []).map((file) => file.name));
    }
  }

  async function uploadAll(element, chosen, status, progress) {
    for (const file of chosen) {
      if (element.max_size && file.size > element.max_size) {
        setError(element, format(T.err_file_size, { name: file.name, max: sizeText(element.max_size) }));
        continue;
      }
      if (!accepted(element, file)) {
        setError(element, format(T.err_file_type, { name: file.name, accept: element.accept.join(", ") }));
        continue;
      }
      setError(element, null);
      status.textContent = format(T.file_uploading, { name: file.name });
      progress.value = 0;
      progress.hidden = false;
      setBusy(true);
      const result = await upload(element, file, progress);
      setBusy(false);
      progress.hidden = true;
      if (result.status === 409 || result.status === 410) {
        refused(result.body);
        return;
      }
      if (result.status !== 201) {
        status.textContent = "";
        const message = result.status === 0 ? T.err_network
          : result.body && result.body.message ? result.body.message
            : format(T.err_status, { status: result.status });
        setError(element, message);
        continue;
      }
      const saved = result.body;
      const entry = {
        id: String(saved.id),
        name: saved.name || file.name,
        type: saved.type || file.type,
        size: saved.metadata && saved.metadata.size != null ? saved.metadata.size : file.size,
        preview: (saved.type || file.type || "").startsWith("image/") ? URL.createObjectURL(file) : null,
      };
      files[element.key] = element.multiple ? [...(files[element.key] || []), entry] : [entry];
      setFileValue(element);
      renderFiles(element);
      status.textContent = format(T.file_uploaded, { name: entry.name });
      refreshVisibility();
    }
  }

  // ---- signatures -----------------------------------------------------------------------
  // A drawing pad: Pointer Events cover mouse, touch and pen alike; the canvas is sized in
  // device pixels so strokes stay sharp, and strokes are kept so a resize can redraw them.
  class Pad {
    constructor(canvas, typed) {
      this.canvas = canvas;
      this.typed = typed;
      this.context = canvas.getContext("2d");
      this.strokes = [];
      this.stroke = null;
      canvas.addEventListener("pointerdown", (event) => this.down(event));
      canvas.addEventListener("pointermove", (event) => this.move(event));
      canvas.addEventListener("pointerup", (event) => this.up(event));
      canvas.addEventListener("pointercancel", (event) => this.up(event));
      typed.addEventListener("input", () => {
        this.strokes = [];
        this.redraw();
      });
      if (window.ResizeObserver) new ResizeObserver(() => this.resize()).observe(canvas);
      this.resize();
    }

    resize() {
      const box = this.canvas.getBoundingClientRect();
      if (!box.width || !box.height) return; // not shown yet
      const ratio = window.devicePixelRatio || 1;
      const width = Math.round(box.width * ratio);
      const height = Math.round(box.height * ratio);
      if (this.canvas.width === width && this.canvas.height === height) return;
      this.canvas.width = width;
      this.canvas.height = height;
      this.context.setTransform(ratio, 0, 0, ratio, 0, 0);
      this.redraw();
    }

    point(event) {
      const box = this.canvas.getBoundingClientRect();
      return { x: event.clientX - box.left, y: event.clientY - box.top };
    }

    down(event) {
      if (event.pointerType === "mouse" && event.button !== 0) return;
      event.preventDefault();
      this.canvas.setPointerCapture(event.pointerId);
      if (this.typed.value) {
        this.typed.value = ""; // drawing replaces a typed name
        this.redraw();
      }
      this.stroke = [this.point(event)];
      this.strokes.push(this.stroke);
      this.segment(this.stroke);
    }

    move(event) {
      if (!this.stroke) return;
      event.preventDefault();
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const each of events.length ? events : [event]) {
        this.stroke.push(this.point(each));
        this.segment(this.stroke);
      }
    }

    up(event) {
      if (!this.stroke) return;
      this.stroke = null;
      if (this.canvas.hasPointerCapture(event.pointerId)) {
        this.canvas.releasePointerCapture(event.pointerId);
      }
    }

    ink() {
      const context = this.context;
      context.lineWidth = 2.5;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.strokeStyle = "#10213f";
      context.fillStyle = "#10213f";
    }

    // Quadratic curves through the midpoints of successive points: smooth, no corners.
    segment(points, upTo) {
      const context = this.context;
      const n = upTo === undefined ? points.length : upTo;
      this.ink();
      context.beginPath();
      if (n === 1) {
        context.arc(points[0].x, points[0].y, 1.25, 0, 2 * Math.PI);
        context.fill();
        return;
      }
      const mid = (a, b) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });
      const start = n === 2 ? points[0] : mid(points[n - 3], points[n - 2]);
      const end = mid(points[n - 2], points[n - 1]);
      context.moveTo(start.x, start.y);
      context.quadraticCurveTo(points[n - 2].x, points[n - 2].y, end.x, end.y);
      context.stroke();
    }

    redraw() {
      const context = this.context;
      const box = this.canvas.getBoundingClientRect();
      context.clearRect(0, 0, box.width || this.canvas.width, box.height || this.canvas.height);
      for (const stroke of this.strokes) {
        for (let n = 1; n <= stroke.length; n++) this.segment(stroke, n);
      }
      const name = this.typed.value.trim();
      if (name) {
        let size = Math.min(44, box.height * 0.4);
        context.font = "italic " + size + 'px "Segoe Script", "Brush Script MT", "URW Chancery L", cursive';
        while (size > 12 && context.measureText(name).width > box.width - 32) {
          size -= 2;
          context.font = "italic " + size + 'px "Segoe Script", "Brush Script MT", "URW Chancery L", cursive';
        }
        this.ink();
        context.textBaseline = "middle";
        context.fillText(name, 16, box.height / 2);
      }
    }

    clear() {
      this.strokes = [];
      this.typed.value = "";
      this.redraw();
    }

    isBlank() {
      return !this.strokes.length && !this.typed.value.trim();
    }
  }

  function renderSignature(element) {
    const box = wrapper(element.key);
    const signature = signatures[element.key];
    const signed = box.querySelector(".signed");
    const pad = box.querySelector(".pad");
    signed.hidden = !signature;
    pad.hidden = Boolean(signature);
    if (signature) {
      box.querySelector(".signed-text").textContent = signature.created_at
        ? format(T.sig_signed_at, { date: localMoment(signature.created_at) })
        : T.sig_signed;
    } else {
      const drawing = pads.get(element.key);
      if (drawing) drawing.resize();
    }
    renderDocuments(element);
  }

  function renderDocuments(element) {
    const box = wrapper(element.key);
    const holder = box.querySelector(".documents");
    const list = holder.querySelector("ul");
    const items = documents[element.key] || [];
    holder.hidden = !items.length;
    list.replaceChildren();
    for (const item of items) {
      const entry = document.createElement("li");
      const name = item.name || "PDF";
      if (item.ready && item.url) {
        const link = document.createElement("a");
        link.href = item.url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.textContent = format(T.doc_open, { name });
        const frame = document.createElement("iframe");
        frame.className = "document-preview";
        frame.src = item.url;
        frame.title = format(T.doc_preview, { name });
        frame.loading = "lazy";
        entry.append(link, frame);
      } else {
        entry.className = "not-ready";
        entry.textContent = format(T.doc_not_ready, { name });
      }
      list.append(entry);
    }
  }

  async function refreshDocuments() {
    const result = await call("state" + localeQuery());
    if (!result.ok) return;
    documents = Object.assign({}, (result.body.template && result.body.template.documents) || {});
    for (const element of elements.values()) {
      if (element.type === "signature") renderDocuments(element);
    }
  }

  async function sign(element) {
    const pad = pads.get(element.key);
    if (pad.isBlank()) {
      setError(element, T.err_signature_blank);
      return;
    }
    setError(element, null);
    const box = wrapper(element.key);
    const button = box.querySelector(".pad-sign");
    button.disabled = true;
    button.textContent = T.sig_signing;
    setBusy(true);
    const image = pad.canvas.toDataURL("image/png");
    const result = await call("signatures/" + encodeURIComponent(element.key), { image });
    setBusy(false);
    button.disabled = false;
    button.textContent = T.sig_sign;
    if (!result.ok) {
      if (!result.refused) setError(element, result.message);
      return;
    }
    signatures[element.key] = result.body;
    pad.clear();
    renderSignature(element);
    box.querySelector(".sign-again").focus();
  }

  function setUpElements() {
    for (const element of elements.values()) {
      const box = wrapper(element.key);
      if (!box) continue;
      if (element.type === "file") {
        const input = control(element.key);
        input.addEventListener("change", () => {
          const chosen = Array.from(input.files || []);
          input.value = ""; // the same file may be chosen again later
          onFiles(element, chosen);
        });
        // A file dropped on the picker, as on the native input it replaces.
        const picker = box.querySelector(".file-picker");
        picker.addEventListener("dragover", (event) => {
          event.preventDefault();
          picker.classList.add("dragging");
        });
        picker.addEventListener("dragleave", () => picker.classList.remove("dragging"));
        picker.addEventListener("drop", (event) => {
          event.preventDefault();
          picker.classList.remove("dragging");
          onFiles(element, Array.from(event.dataTransfer.files || []));
        });
      } else if (element.type === "signature") {
        const pad = new Pad(box.querySelector(".pad-canvas"), box.querySelector(".pad-typed"));
        pads.set(element.key, pad);
        const started = () => {
          if ($("e-" + element.key).textContent === T.err_signature_blank) setError(element, null);
        };
        pad.canvas.addEventListener("pointerdown", started);
        pad.typed.addEventListener("input", started);
        pad.typed.addEventListener("keydown", (event) => {
          if (event.key !== "Enter") return;
          event.preventDefault(); // Enter in the name signs; it does not go to the next step
          sign(element);
        });
        box.querySelector(".pad-clear").addEventListener("click", () => {
          pad.clear();
          setError(element, null);
        });
        box.querySelector(".pad-sign").addEventListener("click", () => sign(element));
        box.querySelector(".sign-again").addEventListener("click", () => {
          box.querySelector(".signed").hidden = true;
          box.querySelector(".pad").hidden = false;
          pad.resize();
          box.querySelector(".pad-typed").focus();
        });
      }
    }
  }

  // ---- declining ------------------------------------------------------------------------
  declineOpen.addEventListener("click", () => {
    $("decline-error").hidden = true;
    dialog.showModal();
    $("decline-reason").focus();
  });
  dialog.addEventListener("close", () => declineOpen.focus());
  $("decline-form").addEventListener("submit", async (event) => {
    const submitter = event.submitter;
    if (!submitter || submitter.value !== "decline") return; // Cancel closes the dialog
    event.preventDefault();
    const reason = $("decline-reason").value.trim();
    submitter.disabled = true;
    const result = await call("decline", { reason: reason || null });
    submitter.disabled = false;
    if (!result.ok) {
      if (result.refused) {
        dialog.close();
        return;
      }
      $("decline-error").textContent = result.message;
      $("decline-error").hidden = false;
      return;
    }
    dialog.close();
    form.hidden = true;
    $("progress").hidden = true;
    $("decline-line").hidden = true;
    clearSummary();
    showScreen("declined");
  });

  // ---- start ------------------------------------------------------------------------------
  function localeQuery() {
    return page.requested_locale ? "?locale=" + encodeURIComponent(page.requested_locale) : "";
  }

  function resumeAt(stoppedAt) {
    const shown = shownSteps();
    if (!shown.length) return "review";
    const position = shown.findIndex((index) => steps[index].id === stoppedAt);
    if (position < 0) return shown[0];
    return shown[Math.min(position + 1, shown.length - 1)];
  }

  async function start() {
    $("stopped").hidden = true;
    $("loading").hidden = false;
    const result = await call("state" + localeQuery());
    if (!result.ok) {
      if (!result.refused) stop(T.load_failed, result.message, true);
      return;
    }
    applyState(result.body);
    for (const element of elements.values()) {
      if (TYPED.has(element.type)) writeValue(element, lookup(data, element.key));
      else if (element.type === "file") renderFiles(element);
      else if (element.type === "signature") renderSignature(element);
    }
    refreshVisibility();
    $("loading").hidden = true;
    form.hidden = false;
    form.setAttribute("aria-busy", "false");
    nextButton.disabled = false;
    backButton.disabled = false;
    declineOpen.disabled = false;
    show(resumeAt((result.body.response || {}).step), false);
  }

  $("retry").addEventListener("click", () => {
    form.hidden = false;
    $("progress").hidden = false;
    $("decline-line").hidden = false;
    start();
  });

  setUpElements();
  start();
})();
