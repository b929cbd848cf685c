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

function fileField(d) {
  return d.input_type === "structured" ? (d.input_fields || []).find((f) => f.data_type === "file") : undefined;
}

async function loadDeployments() {
  $("error").hidden = true;
  say("Loading deployments...");
  project = (await api("GET", "/projects"))[0].name;
  deployments = await api("GET", `/projects/${encodeURIComponent(project)}/deployments`);
  const select = $("deployment");
  select.replaceChildren(...deployments.map((d) => {
    const field = fileField(d);
    const option = new Option(field ? d.name : `${d.name} (no file input)`, d.name);
    option.disabled = !field;
    return option;
  }));
  const usable = deployments.filter(fileField);
  if (usable.length) select.value = usable[0].name;
  say(deployments.length ? `${deployments.length} deployment(s) in project ${project}.`
                         : "No deployments yet: `make serve` registers the package it builds.");
}

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

function drawBox() {
  const img = $("picture"), box = $("box"), b = img.dataset.box ? JSON.parse(img.dataset.box) : [];
  if (b.length !== 4 || !img.naturalWidth) { box.hidden = true; return; }
  const scale = img.clientWidth / img.naturalWidth;  // the box is in the picture's own pixels
  Object.assign(box.style, {left: `${b[0] * scale}px`, top: `${b[1] * scale}px`,
                            width: `${b[2] * scale}px`, height: `${b[3] * scale}px`});
  box.hidden = false;
}

function show(file, answer) {
  const img = $("picture"), result = answer.result || {};
  $("json").textContent = JSON.stringify(answer, null, 2);
  img.dataset.box = JSON.stringify(Array.isArray(result.box) ? result.box : []);
  img.onload = drawBox;
  img.onerror = () => { img.hidden = true; $("box").hidden = true; };
  img.hidden = false;
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);  // the browser's own copy: nothing is downloaded back
  const b = img.dataset.box && JSON.parse(img.dataset.box);
  $("caption").textContent = answer.status === "failed" ? "The request failed."
    : result.face_found ? `Face found at x ${b[0]}, y ${b[1]}, ${b[2]} x ${b[3]} px ` +
                          `(label ${result.label}, confidence ${result.confidence}).`
    : `No face found (label ${result.label}, confidence ${result.confidence}).`;
  $("result").hidden = false;
}

async function send(event) {
  event.preventDefault();
  const d = deployments.find((x) => x.name === $("deployment").value), file = $("portrait").files[0];
  $("error").hidden = true;
  $("result").hidden = true;
  if (!d || !file) return fail("Choose a deployment and a portrait first.");
  const field = fileField(d);
  if (!field) return fail(`Deployment ${d.name} has no file input field to send a portrait to.`);
  $("send").disabled = true;
  try {
    say(`Uploading ${file.name}...`);
    const uri = await upload(file);
    say(`Asking ${d.name}...`);
    const answer = await api("POST", `/projects/${encodeURIComponent(project)}/deployments/` +
                                     `${encodeURIComponent(d.name)}/requests`, {[field.name]: uri});
    show(file, answer);
    if (answer.status === "failed") fail("The deployment failed: " + (answer.error_message || "no message"));
    else say(`Done: request ${answer.id}.`);
  } catch (e) {
    fail(e.message);
  } finally {
    $("send").disabled = false;
  }
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
  new ResizeObserver(drawBox).observe($("picture"));
  // A server without auth (or a token kept from before) lists its deployments at once.
  loadDeployments().catch((e) => {
    if (sessionStorage.getItem("token")) fail(e.message); else say("Enter your API token to start.");
  });
});
