"use strict";
const API = "/v2.1";
const $ = (id) => document.getElementById(id);
let project = null, deployments = [];

function authHeaders() {
  const token = sessionStorage.getItem("token") || "";
  if (!token) return {};
  return {Authorization: token.includes(" ") ? token : "Token " + token};  // as the ubiops client does
}

function say(text) { $("status").textContent = text; }
function fail(text) { $("error").textContent = text; $("error").hidden = false; say(""); }

async function api(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(API + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw new Error("Could not reach the server (" + e.message + ").");
  }
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    const why = (data && (data.error || data.error_message || data.detail)) || r.statusText;
    throw new Error((r.status === 401 ? "The server refused the token (401): " : `HTTP ${r.status}: `) + why);
  }
  return data;
}

// -- one control per input field, and its parse: a value, or an Error saying what to enter -------------------------

const brief = (v) => JSON.stringify(v).slice(0, 40);
const ITEMS = {  // an array's item type: its check and how to name it
  int: [Number.isSafeInteger, "whole numbers", "[1, 2, 3]"],
  double: [Number.isFinite, "numbers", "[0.5, 1, 2.5]"],
  string: [(v) => typeof v === "string", "strings", '["a", "b"]'],
};

function toInt(text) {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t)) throw new Error(`${brief(text)} is not a whole number; enter one such as 3 or -2.`);
  if (!Number.isSafeInteger(Number(t))) throw new Error(`${t} is too large; enter at most 15 digits.`);
  return Number(t);
}

function toDouble(text) {
  const t = text.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) || !Number.isFinite(Number(t)))
    throw new Error(`${brief(text)} is not a number; enter one such as 0.5, -2 or 1e-3.`);
  return Number(t);
}

function toJSON(text, what, example) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`not valid JSON (${e.message}); enter ${what}, e.g. ${example}.`);
  }
}

function toDict(text) {
  const v = toJSON(text, "a JSON object", '{"key": 1}');
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new Error(`must be a JSON object such as {"key": 1}; got ${brief(v)}.`);
  return v;
}

function toList(text, item) {
  const [check, what, example] = ITEMS[item];
  const v = toJSON(text, `a JSON list of ${what}`, example);
  if (!Array.isArray(v)) throw new Error(`must be a JSON list of ${what}, e.g. ${example}; got ${brief(v)}.`);
  const bad = v.findIndex((x) => !check(x));
  if (bad >= 0) throw new Error(`must be a JSON list of ${what}, e.g. ${example}; item ${bad} is ${brief(v[bad])}.`);
  return v;
}

function control(tag, attrs) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

const text = (mode, hint) => () =>
  control("input", {type: "text", inputmode: mode, placeholder: hint, spellcheck: "false"});
const area = (value, hint) => () =>
  Object.assign(control("textarea", {rows: 2, placeholder: hint, spellcheck: "false"}), {value});
const file = (many) => () => control("input", many ? {type: "file", multiple: ""} : {type: "file"});

function oneFile(el) {
  if (!el.files.length) throw new Error("choose a file.");
  return el.files[0];
}

// data_type -> [make the control, parse its value, hint]; the types UbiOps (and prcvd.specs) accept
const WIDGETS = {
  string: [text("text", ""), (el) => el.value, "text"],
  int: [text("numeric", "e.g. 3"), (el) => toInt(el.value), "a whole number"],
  double: [text("decimal", "e.g. 0.5"), (el) => toDouble(el.value), "a number"],
  bool: [() => control("input", {type: "checkbox"}), (el) => el.checked, "checked: true; unchecked: false"],
  dict: [area("{}", '{"key": 1}'), (el) => toDict(el.value), "a JSON object"],
  file: [file(false), oneFile, "a file, uploaded to the default bucket"],
  array_int: [area("[]", ITEMS.int[2]), (el) => toList(el.value, "int"), "a JSON list of whole numbers"],
  array_double: [area("[]", ITEMS.double[2]), (el) => toList(el.value, "double"), "a JSON list of numbers"],
  array_string: [area("[]", ITEMS.string[2]), (el) => toList(el.value, "string"), "a JSON list of strings"],
  array_file: [file(true), (el) => [...el.files], "files, each uploaded to the default bucket"],
};
const PLAIN = [area("", "plain text"), (el) => el.value, "plain text"];

function inputFields(d) {
  return d.input_type === "structured" ? d.input_fields || [] : [{name: "input", data_type: "plain"}];
}

const widget = (f) => (f.data_type === "plain" ? PLAIN : WIDGETS[f.data_type] || WIDGETS.string);

function renderFields(d) {
  const rows = [];
  for (const f of d ? inputFields(d) : []) {
    const [make, , hint] = widget(f), id = `field-${f.name}`;
    const el = Object.assign(make(), {id, name: f.name}), label = control("label", {for: id});
    const help = Object.assign(control("p", {id: `${id}-hint`, class: "hint"}), {textContent: hint});
    const type = Object.assign(document.createElement("span"), {className: "type", textContent: f.data_type});
    label.append(`${f.name} `, type);
    el.setAttribute("aria-describedby", help.id);
    if (f.data_type === "bool") {
      const row = control("div", {class: "check"});
      row.append(el, label);
      rows.push(row, help);
    } else {
      rows.push(label, el, help);
    }
  }
  $("fields").replaceChildren(...rows);
}

// The request the form holds (files as File objects), or one Error naming every field that is wrong.
function readFields(d) {
  const data = {}, problems = [];
  for (const f of inputFields(d)) {
    const el = $(`field-${f.name}`), parse = widget(f)[1];
    try {
      data[f.name] = parse(el);
      el.removeAttribute("aria-invalid");
    } catch (e) {
      el.setAttribute("aria-invalid", "true");
      problems.push([el, `Field '${f.name}' (${f.data_type}): ${e.message}`]);
    }
  }
  if (problems.length) {
    problems[0][0].focus();
    throw new Error(problems.map((p) => p[1]).join("\n") + "\nNothing was sent.");
  }
  return d.input_type === "structured" ? data : data.input;
}

// -- sending: files first (as UbiOps takes them, into a bucket), then the request -----------------------------------

async function upload(file) {
  const name = `page-${Date.now()}-${file.name.replace(/[^A-Za-z0-9._-]/g, "_")}`;
  const {url} = await api("POST", `/projects/${encodeURIComponent(project)}/buckets/default/files/${name}`);
  // The URL is signed, as on UbiOps: the PUT carries no token.
  const r = await fetch(url, {method: "PUT", body: file});
  if (!r.ok) {
    const data = await r.json().catch(() => null);
    throw new Error(`Upload failed (HTTP ${r.status}): ` + ((data && data.error) || r.statusText));
  }
  return `ubiops-file://default/${name}`;
}

// The request with every File replaced by the ubiops-file:// URI it was uploaded to, and the first file (to show).
async function withUploads(d, data) {
  const out = {...data}, files = [];
  for (const f of d.input_type === "structured" ? inputFields(d) : []) {
    if (f.data_type === "file") files.push(data[f.name]), out[f.name] = await upload(data[f.name]);
    if (f.data_type === "array_file") {
      files.push(...data[f.name]);
      out[f.name] = [];
      for (const one of data[f.name]) out[f.name].push(await upload(one));
    }
  }
  return [d.input_type === "structured" ? out : data, files[0]];
}

// -- the answer: the JSON always; a box drawn on the picture and a caption when the result has them ------------------

function isBox(v) {  // the demo's shape: [x, y, width, height] in the picture's pixels
  return Array.isArray(v) && v.length === 4 && v.every((x) => Number.isFinite(x) && x >= 0) && v[2] > 0 && v[3] > 0;
}

function findBox(result) {
  if (!result || typeof result !== "object" || Array.isArray(result)) return null;
  const rank = (k) => (k === "box" ? 0 : /box/i.test(k) ? 1 : 2);
  const name = Object.keys(result).sort((a, b) => rank(a) - rank(b)).find((k) => isBox(result[k]));
  return name === undefined ? null : result[name];
}

function drawBox() {
  const img = $("picture"), box = $("box"), b = img.dataset.box ? JSON.parse(img.dataset.box) : null;
  const fits = b && img.naturalWidth && b[0] + b[2] <= img.naturalWidth + 1 && b[1] + b[3] <= img.naturalHeight + 1;
  if (!fits) { box.hidden = true; return; }
  const scale = img.clientWidth / img.naturalWidth;  // the box is in the picture's own pixels
  Object.assign(box.style, {left: `${b[0] * scale}px`, top: `${b[1] * scale}px`,
                            width: `${b[2] * scale}px`, height: `${b[3] * scale}px`});
  box.hidden = false;
}

function caption(answer, b) {
  if (answer.status === "failed") return "The request failed.";
  const r = answer.result && typeof answer.result === "object" ? answer.result : {};
  const head = "face_found" in r ? (r.face_found ? "Face found" : "No face found") : b ? "Box" : "";
  const at = b ? ` at x ${b[0]}, y ${b[1]}, ${b[2]} x ${b[3]} px` : "";
  const facts = [["label", "label"], ["face_count", "face count"], ["confidence", "confidence"]]
    .filter(([k]) => k in r).map(([k, word]) => `${word} ${typeof r[k] === "string" ? r[k] : JSON.stringify(r[k])}`);
  if (!head) return facts.length ? facts.join(", ").replace(/^./, (c) => c.toUpperCase()) + "." : "";
  return head + at + (facts.length ? ` (${facts.join(", ")})` : "") + ".";
}

function show(file, answer) {
  const img = $("picture"), b = findBox(answer.result);
  $("json").textContent = JSON.stringify(answer, null, 2);
  img.dataset.box = b ? JSON.stringify(b) : "";
  img.onload = drawBox;
  img.onerror = () => { img.hidden = true; $("box").hidden = true; };
  if (img.src) URL.revokeObjectURL(img.src);
  $("box").hidden = true;
  img.hidden = !file;
  if (file) img.src = URL.createObjectURL(file);  // the browser's own copy: nothing is downloaded back
  else img.removeAttribute("src");
  $("caption").textContent = caption(answer, b);
  $("result").hidden = false;
}

async function send(event) {
  event.preventDefault();
  const d = deployments.find((x) => x.name === $("deployment").value);
  $("error").hidden = true;
  $("result").hidden = true;
  if (!d) return fail("Choose a deployment first.");
  let data;
  try {
    data = readFields(d);
  } catch (e) {
    return fail(e.message);
  }
  $("send").disabled = true;
  try {
    say("Uploading files...");
    const [body, file] = await withUploads(d, data);
    say(`Asking ${d.name}...`);
    const answer = await api("POST", `/projects/${encodeURIComponent(project)}/deployments/` +
                                     `${encodeURIComponent(d.name)}/requests`, body);
    show(file, answer);
    if (answer.status === "failed") fail("The deployment failed: " + (answer.error_message || "no message"));
    else say(`Done: request ${answer.id}.`);
  } catch (e) {
    fail(e.message);
  } finally {
    $("send").disabled = false;
  }
}

// -- connecting -------------------------------------------------------------------------------------------------------

async function loadDeployments() {
  $("error").hidden = true;
  say("Loading deployments...");
  project = (await api("GET", "/projects"))[0].name;
  deployments = await api("GET", `/projects/${encodeURIComponent(project)}/deployments`);
  $("deployment").replaceChildren(...deployments.map((d) => new Option(d.name, d.name)));
  renderFields(deployments[0]);
  say(deployments.length ? `${deployments.length} deployment(s) in project ${project}.`
                         : "No deployments yet: `make serve` registers the package it builds.");
}

async function connect(event) {
  if (event) event.preventDefault();
  const token = $("token").value.trim();
  if (token) sessionStorage.setItem("token", token); else sessionStorage.removeItem("token");
  try { await loadDeployments(); } catch (e) { fail(e.message); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = sessionStorage.getItem("token") || "";
  $("token-form").addEventListener("submit", connect);
  $("request-form").addEventListener("submit", send);
  $("deployment").addEventListener("change", () => {
    $("result").hidden = $("error").hidden = true;
    renderFields(deployments.find((x) => x.name === $("deployment").value));
  });
  new ResizeObserver(drawBox).observe($("picture"));
  // A server without auth (or a token kept from before) lists its deployments at once.
  loadDeployments().catch((e) => {
    if (sessionStorage.getItem("token")) fail(e.message); else say("Enter your API token to start.");
  });
});
