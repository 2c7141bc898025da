// The case page's diagram: bpmn-js NavigatedViewer with completed and active elements marked.
// The page supplies everything through data attributes (no inline script), e.g.
//   <div data-bpmn-viewer data-xml-url="/arenden/ID/diagram.bpmn"
//        data-completed='["Granska"]' data-active='["Beslut"]'
//        data-label-completed="Klar" data-label-active="Pågår"></div>
// Markers are shape outlines *and* text badges, so the state is not told by colour alone.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";

function parseList(value) {
  try {
    const list = JSON.parse(value || "[]");
    return Array.isArray(list) ? list : [];
  } catch (err) {
    return [];
  }
}

function badge(text, kind) {
  const el = document.createElement("span");
  el.className = "dk-badge dk-badge-" + kind;
  el.textContent = text;
  return el;
}

async function render(container) {
  const canvasEl = container.querySelector("[data-bpmn-canvas]") || container;
  const status = container.querySelector("[data-bpmn-status]");
  const viewer = new NavigatedViewer({ container: canvasEl });
  try {
    const response = await fetch(container.dataset.xmlUrl, { credentials: "same-origin" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    await viewer.importXML(await response.text());
  } catch (err) {
    if (status) status.textContent = container.dataset.labelError || "Diagrammet kunde inte visas.";
    return null;
  }
  const canvas = viewer.get("canvas");
  const overlays = viewer.get("overlays");
  const registry = viewer.get("elementRegistry");
  const marks = [
    ["completed", parseList(container.dataset.completed), container.dataset.labelCompleted || "Klar"],
    ["active", parseList(container.dataset.active), container.dataset.labelActive || "Pågår"],
  ];
  for (const [kind, ids, label] of marks) {
    for (const id of ids) {
      if (!registry.get(id)) continue;
      canvas.addMarker(id, "dk-" + kind);
      overlays.add(id, { position: { top: -12, left: -6 }, html: badge(label, kind) });
    }
  }
  canvas.zoom("fit-viewport", "auto");
  for (const button of container.querySelectorAll("[data-bpmn-zoom]")) {
    button.addEventListener("click", () => {
      const how = button.dataset.bpmnZoom;
      if (how === "fit") canvas.zoom("fit-viewport", "auto");
      else canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8));
    });
  }
  container.dataset.rendered = "true";
  if (status) status.textContent = "";
  return viewer;
}

function start() {
  for (const container of document.querySelectorAll("[data-bpmn-viewer]")) render(container);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
