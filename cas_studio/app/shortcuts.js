// The Annotate tab's keyboard shortcuts, installed once per page (Blocks.load). Served as
// annotate_tab.shortcuts_js(): %MODES% is replaced by key -> click tool label, %COLLECTING% by the
// labels of the tools whose clicks gather into an object; typing in a text field is left alone.
() => {
  const MODES = %MODES%, COLLECTING = %COLLECTING%;
  const click = (id) => { const el = document.getElementById(id); if (el) el.click(); };
  const pick = (group, test) => { const input = [...document.querySelectorAll('#' + group + ' input[type=radio]')].find(test);
                                  if (input && !input.checked) input.click(); };
  const radio = (group, i) => pick(group, (input, j) => j === i);
  const mode = (label) => pick('click-mode', (input) => input.value === label);
  const objectMode = () => { const r = document.querySelector('#click-mode input[type=radio]:checked');
                             return !!r && COLLECTING.includes(r.value); };
  // Holding Shift makes click-object clicks negative; releasing it makes them positive again.
  document.addEventListener('keyup', (e) => { if (e.key === 'Shift' && objectMode()) radio('click-sign', 0); });
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (t && (t.tagName === 'INPUT' && t.type !== 'radio' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    const k = e.key.toLowerCase();
    if (k === 'shift') { if (objectMode()) radio('click-sign', 1); return; }
    if ((e.ctrlKey || e.metaKey) && k === 'z' && !e.shiftKey) { click('undo'); e.preventDefault(); }
    else if ((e.ctrlKey || e.metaKey) && (k === 'y' || (k === 'z' && e.shiftKey))) { click('redo'); e.preventDefault(); }
    else if (e.ctrlKey || e.metaKey || e.altKey) return;
    else if (k === 'n') click('next-image');
    else if (k === 'p') click('prev-image');
    else if (k in MODES) mode(MODES[k]);
    else if (k === 'g') click('grow-selected');
    else if (k === '0' && window.casCanvas) window.casCanvas.reset();
    else if (k === 'b') click('confirm-background');
    else if (k === 'backspace' && objectMode()) { click('undo-click'); e.preventDefault(); }
    else if (k === 'escape') { if (objectMode()) click('cancel-object'); else click('deselect'); }
    else if (k === 'enter') { if (objectMode()) click('accept-object'); else click('confirm-image'); }
  });
}
