// Draw every server-built plotly figure on the page (templates/partials/chart.html).
(function () {
  function draw(root) {
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figure);
      if (!source || el.dataset.drawn) return;
      var fig = JSON.parse(source.textContent);
      el.dataset.drawn = "1";
      window.Plotly.newPlot(el, fig.data, fig.layout, {
        responsive: true,
        displaylogo: false,
        modeBarButtonsToRemove: ["select2d", "lasso2d"],
        toImageButtonOptions: { format: "png", filename: el.dataset.testid || "chart", scale: 2 },
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
})();

// PNG download of a drawn chart (the report cards' "PNG" button).
document.addEventListener("click", function (e) {
  var button = e.target.closest("[data-png]");
  if (!button || !window.Plotly) return;
  var el = document.querySelector('[data-testid="' + button.dataset.png + '"]');
  if (el) window.Plotly.downloadImage(el, { format: "png", filename: button.dataset.filename || "chart", scale: 2 });
});
