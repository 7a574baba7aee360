// The pages' few behaviours, as delegated listeners: the Content-Security-Policy allows no inline script.
"use strict";

// a range input shows its value in the <output> after it: <input type="range" data-shows-value>
document.addEventListener("input", (event) => {
  const range = event.target.closest("input[data-shows-value]");
  if (range && range.nextElementSibling) range.nextElementSibling.value = range.value + " %";
});

// a plain form that asks first: <form data-confirm="Archive plan x?">
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// a field whose text is selected when focused, and a button that copies a field: data-copies="#id"
document.addEventListener("focusin", (event) => {
  if (event.target.matches("input[data-select-on-focus]")) event.target.select();
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copies]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copies);
  field.select();
  const copied = navigator.clipboard ? navigator.clipboard.writeText(field.value)
                                     : Promise.resolve(document.execCommand("copy"));
  copied.then(() => { button.textContent = "Copied"; });
});
