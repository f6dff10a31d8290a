// Formset rows (customer metadata, plan charges): add and remove without a page reload (Django
// formset conventions). The container may name its row template in data-row-template.
document.addEventListener("click", (event) => {
  const add = event.target.closest("[data-add-row]");
  if (add) {
    const container = document.getElementById(add.dataset.addRow);
    const prefix = container.dataset.formsetPrefix;
    const total = document.getElementById(`id_${prefix}-TOTAL_FORMS`);
    const visible = container.querySelectorAll("[data-row]:not([hidden])").length;
    if (visible >= Number(container.dataset.maxRows)) return;
    const index = Number(total.value);
    const templateId = container.dataset.rowTemplate || "metadata-row-template";
    const template = document.getElementById(templateId).innerHTML.replaceAll("__prefix__", index);
    container.insertAdjacentHTML("beforeend", template);
    total.value = index + 1;
    container.lastElementChild.querySelector("input[type=text], select, textarea")?.focus();
    syncAddButton(add);
    return;
  }
  const remove = event.target.closest("[data-remove-row]");
  if (remove) {
    const row = remove.closest("[data-row]");
    const deleteBox = row.querySelector("input[name$='-DELETE']");
    if (deleteBox) deleteBox.checked = true;
    row.querySelectorAll("input[required]").forEach((input) => input.removeAttribute("required"));
    row.hidden = true;
    document.querySelectorAll("[data-add-row]").forEach(syncAddButton);
  }
});

// Disable "Add metadata" at the row limit, and say why.
function syncAddButton(button) {
  const container = document.getElementById(button.dataset.addRow);
  const visible = container.querySelectorAll("[data-row]:not([hidden])").length;
  const full = visible >= Number(container.dataset.maxRows);
  button.disabled = full;
  button.title = full ? `At most ${container.dataset.maxRows} rows` : "";
}
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-add-row]").forEach(syncAddButton);
  // After a failed submit, bring the first field in error into view.
  document.querySelector("[aria-invalid=true], .field-error")?.scrollIntoView({ block: "center" });
  document.querySelector("[aria-invalid=true]")?.focus();
});

// Close the Actions dropdown when clicking elsewhere.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.dropdown[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});

// Confirmation messages fade out after a few seconds; errors stay.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".flash:not(.flash-error)").forEach((flash) => setTimeout(() => flash.remove(), 5000));
});
