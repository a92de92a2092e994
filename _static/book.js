/*
 * Two things for every page.
 *
 * 1. The widgets on these pages are drawn by ipywidgets' HTML manager, which typesets each label
 * with MathJax 2's `MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])`. The pages load
 * MathJax 3, which has no `Hub`, so every widget label threw a TypeError. This gives MathJax 3
 * a `Hub` whose `Queue` hands the work to MathJax 3's `typesetPromise`.
 *
 * MathJax 3 is loaded with `defer` and replaces `window.MathJax` (until then a configuration
 * object) when it runs; the widgets are drawn on the window's `load` event. So the `Hub` is
 * added when the document is parsed (after deferred scripts ran) and again on `load`.
 *
 * 2. A printed output or a display formula wider than its box scrolls sideways (on a phone);
 * book.css draws a fading edge where there is more to see. This marks the box around each
 * scroller (.ar-scroll-frame), says which way there is more (.ar-more-right, .ar-more-left) as
 * it scrolls or resizes, and places the fade over the scroller (--ar-cue-top, -height, -left,
 * -right). Boxes that appear later (formulas typeset by MathJax, widget outputs) are found by
 * watching the page.
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

  // --- printed lines and formulas that scroll sideways, with a cue --------------------------

  var SCROLLERS = "div.cell_output pre, div.output pre, mjx-container[display='true']";
  var watched = [];  // one update function for each scroller

  function update(scroller, frame) {
    var end = scroller.scrollWidth - scroller.clientWidth;
    var scrolls = end > 2;
    frame.classList.toggle("ar-more-right", scrolls && scroller.scrollLeft < end - 2);
    frame.classList.toggle("ar-more-left", scrolls && scroller.scrollLeft > 2);
    if (!scrolls) return;
    var style = frame.style;
    var right = frame.clientWidth - scroller.offsetLeft - scroller.offsetWidth;
    style.setProperty("--ar-cue-top", scroller.offsetTop + scroller.clientTop + "px");
    style.setProperty("--ar-cue-height", scroller.clientHeight + "px");
    style.setProperty("--ar-cue-left", scroller.offsetLeft + scroller.clientLeft + "px");
    style.setProperty("--ar-cue-right", right + (scroller.offsetWidth - scroller.clientWidth
                                                 - scroller.clientLeft) + "px");
  }

  function watch(scroller) {
    var frame = scroller.parentElement;
    if (!frame || scroller.hasAttribute("data-ar-scroll")) return;
    var overflow = window.getComputedStyle(scroller).overflowX;
    if (overflow !== "auto" && overflow !== "scroll") return;
    scroller.setAttribute("data-ar-scroll", "");
    frame.classList.add("ar-scroll-frame");
    var run = function () { update(scroller, frame); };
    watched.push(run);
    scroller.addEventListener("scroll", run, { passive: true });
    window.addEventListener("resize", run);
    if (window.ResizeObserver) {  // the box, and what it holds (fonts load, a formula is drawn)
      var observer = new window.ResizeObserver(run);
      observer.observe(scroller);
      if (scroller.firstElementChild) observer.observe(scroller.firstElementChild);
    }
    run();
  }

  var pending = false;
  function scan() {  // at most once every 50 ms, however often the page changes
    if (pending) return;
    pending = true;
    window.setTimeout(function () {
      pending = false;
      var found = document.querySelectorAll(SCROLLERS);
      for (var i = 0; i < found.length; i++) watch(found[i]);
    }, 50);
  }

  function again() {  // text changes width without its box changing when a font arrives
    scan();
    for (var i = 0; i < watched.length; i++) watched[i]();
  }

  document.addEventListener("DOMContentLoaded", function () {
    scan();
    if (window.MutationObserver) {
      new window.MutationObserver(scan).observe(document.body, { childList: true, subtree: true });
    }
    whenMathJaxReady(scan, 100);
  });
  window.addEventListener("load", again);
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(again);
})();

/*
 * A widget marked `ar-needs-kernel` (chapter 7's connectivity explorer) redraws through a
 * running Python kernel. This file is loaded only by the website, where no kernel runs, so its
 * controls are disabled here: they would move and change nothing. In Jupyter and Colab the
 * widget is live and this file is not loaded.
 */
(function () {
  "use strict";
  var CONTROLS = "input, select, textarea, button";

  function disable(box) {
    box.classList.add("ar-static");
    var controls = box.querySelectorAll(CONTROLS);
    for (var i = 0; i < controls.length; i++) {
      controls[i].disabled = true;
      controls[i].setAttribute("aria-disabled", "true");
    }
    var sliders = box.querySelectorAll(".slider, .noUi-target");  // drawn, not native inputs
    for (var j = 0; j < sliders.length; j++) sliders[j].setAttribute("disabled", "true");
  }

  var pending = false;
  function scan() {
    if (pending) return;
    pending = true;
    window.setTimeout(function () {
      pending = false;
      var boxes = document.querySelectorAll(".ar-needs-kernel");
      for (var i = 0; i < boxes.length; i++) disable(boxes[i]);
    }, 50);
  }

  document.addEventListener("DOMContentLoaded", function () {
    scan();
    if (window.MutationObserver) {
      new window.MutationObserver(scan).observe(document.body, { childList: true, subtree: true });
    }
  });
  window.addEventListener("load", scan);
})();
