// The plan form's charge editor (templates/plans/_charge_row.html). Without this script the form still
// works: every charge model's inputs show, the server reads those of the chosen model, and blank tier
// rows take new tiers. With it, each charge shows only its model's inputs (the others are disabled, so
// they are not posted either), tiers are added and removed in place, and prices are labelled with the
// currency chosen for the plan.
(() => {
  const modelsOf = (element) => element.dataset.models.split(" ");

  function showChosenModel(editor) {
    const model = editor.querySelector("[data-charge-model]").value;
    editor.querySelectorAll("[data-models]").forEach((element) => {
      const chosen = modelsOf(element).includes(model);
      element.hidden = !chosen;
      if (element instanceof HTMLFieldSetElement) element.disabled = !chosen;
    });
  }

  function isBlank(row) {
    return [...row.querySelectorAll("input")].every((input) => input.value.trim() === "");
  }

  // Tier numbers and the labels that name them follow the rows' order.
  function renumber(tbody) {
    const rows = tbody.querySelectorAll("[data-tier]");
    rows.forEach((row, index) => {
      const number = index + 1;
      row.querySelector("[data-tier-number]").textContent = number;
      row.querySelectorAll("input[data-cell-label]").forEach((input) => {
        input.setAttribute("aria-label", `${input.dataset.cellLabel}, tier ${number}`);
      });
      const remove = row.querySelector("[data-remove-tier]");
      remove.setAttribute("aria-label", `Remove tier ${number}`);
      remove.disabled = rows.length === 1; // a ladder keeps at least one tier
    });
  }

  function clearRow(row) {
    row.removeAttribute("data-spare");
    row.querySelectorAll(".field-error").forEach((error) => error.remove());
    row.querySelectorAll("td.has-error").forEach((cell) => cell.classList.remove("has-error"));
    row.querySelectorAll("input").forEach((input) => {
      input.defaultValue = "";
      input.value = "";
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
  }

  const cellInput = (row, cell) => row.querySelector(`[data-cell="${cell}"] input`);

  function addTier(tbody) {
    const rows = tbody.querySelectorAll("[data-tier]");
    const last = rows[rows.length - 1];
    const row = last.cloneNode(true);
    clearRow(row);
    // The new tier starts one unit after the previous one ends, when it has an end.
    const previousEnd = cellInput(last, "to_value").value.trim();
    if (/^[0-9]+$/.test(previousEnd)) cellInput(row, "from_value").value = (BigInt(previousEnd) + 1n).toString();
    last.after(row);
    renumber(tbody);
    // The previous last tier was open: it needs an end now.
    (previousEnd === "" ? cellInput(last, "to_value") : cellInput(row, "per_unit_amount")).focus();
  }

  function removeTier(row) {
    const tbody = row.closest("[data-tier-rows]");
    if (tbody.querySelectorAll("[data-tier]").length === 1) return;
    const focusAfter = row.previousElementSibling || row.nextElementSibling;
    row.remove();
    renumber(tbody);
    cellInput(focusAfter, "from_value").focus();
  }

  function enhance(editor) {
    if (editor.dataset.enhanced) return;
    editor.dataset.enhanced = "true";
    editor.querySelectorAll("[data-spare]").forEach((row) => {
      if (isBlank(row)) row.remove();
    });
    editor.querySelectorAll("[data-no-script]").forEach((note) => note.remove());
    editor.querySelectorAll("[data-tier-action]").forEach((button) => (button.hidden = false));
    editor.querySelectorAll("[data-tier-rows]").forEach(renumber);
    showChosenModel(editor);
  }

  function showCurrency(currency) {
    const template = document.getElementById("charge-row-template");
    const roots = [document, ...(template ? [template.content] : [])];
    roots.forEach((root) => root.querySelectorAll("[data-currency]").forEach((label) => (label.textContent = currency)));
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-charge-model]")) showChosenModel(event.target.closest("[data-charge-editor]"));
    if (event.target.matches("select[name=amount_currency]")) showCurrency(event.target.value);
  });

  document.addEventListener("click", (event) => {
    const add = event.target.closest("[data-add-tier]");
    if (add) {
      addTier(add.closest("[data-charge-editor] fieldset").querySelector("[data-tier-rows]"));
      return;
    }
    const remove = event.target.closest("[data-remove-tier]");
    if (remove) removeTier(remove.closest("[data-tier]"));
  });

  // A deferred script runs once the page is parsed, before DOMContentLoaded: the sections are hidden
  // before app.js scrolls to the first error, so that it scrolls to where the error ends up.
  function start() {
    document.querySelectorAll("[data-charge-editor]").forEach(enhance);
    // Charges added with "Add a charge" (app.js) come from the row template: enhance them as they appear.
    const rows = document.getElementById("charge-rows");
    if (rows) {
      new MutationObserver(() => rows.querySelectorAll("[data-charge-editor]").forEach(enhance)).observe(rows, {
        childList: true,
      });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
