/*
 * The widgets on these pages are drawn by ipywidgets' HTML manager, which typesets each label
 * with MathJax 2's `MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])`. The pages load
 * MathJax 3, which has no `Hub`, so every widget label threw a TypeError. This gives MathJax 3
 * a `Hub` whose `Queue` hands the work to MathJax 3's `typesetPromise`.
 *
 * MathJax 3 is loaded with `defer` and replaces `window.MathJax` (until then a configuration
 * object) when it runs; the widgets are drawn on the window's `load` event. So the `Hub` is
 * added when the document is parsed (after deferred scripts ran) and again on `load`.
 */
(function () {
  "use strict";

  // Run `work` once MathJax 3 has started; give up quietly if it never does (offline page).
  function whenMathJaxReady(work, triesLeft) {
    var mathjax = window.MathJax;
    if (mathjax && mathjax.startup && mathjax.startup.promise) {
      mathjax.startup.promise.then(work).catch(function (error) {
        console.warn("MathJax could not typeset a widget label:", error);
      });
    } else if (triesLeft > 0) {
      window.setTimeout(function () { whenMathJaxReady(work, triesLeft - 1); }, 100);
    }
  }

  function typeset(element) {
    whenMathJaxReady(function () {
      if (typeof window.MathJax.typesetPromise === "function") {
        return window.MathJax.typesetPromise(element ? [element] : undefined);
      }
    }, 100);
  }

  // MathJax 2's queue takes commands (["Typeset", Hub, element]) and callbacks (functions).
  var hub = {
    Queue: function () {
      for (var i = 0; i < arguments.length; i++) {
        var command = arguments[i];
        if (Array.isArray(command) && command[0] === "Typeset") {
          typeset(command[2]);
        } else if (typeof command === "function") {
          whenMathJaxReady(command, 100);
        }
      }
    },
    Typeset: function (element, callback) {
      typeset(element);
      if (typeof callback === "function") whenMathJaxReady(callback, 100);
    }
  };

  function addHub() {
    var mathjax = window.MathJax;
    if (mathjax && typeof mathjax === "object" && !mathjax.Hub) mathjax.Hub = hub;
  }

  document.addEventListener("DOMContentLoaded", addHub);
  window.addEventListener("load", addHub);
})();
