// Console-wide behaviour. htmx leaves 4xx answers unswapped by default; ours carry the form
// with its errors (400) or a clear refusal (409), so they are swapped in like a success.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status === 400 || status === 409 || status === 422) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
