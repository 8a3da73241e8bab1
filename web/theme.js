// Light or dark, before the first paint: a classic script loaded from <head> (module scripts
// wait for the document, which would flash the wrong colours). The choice is per browser:
// "system" (the default) follows the operating system's setting, live; "light" and "dark" stick.
// The page's colours hang off <html data-theme="light|dark">; styles.css has both sets.
(() => {
  const KEY = 'baton.theme';
  const CHOICES = ['system', 'light', 'dark'];
  const dark = window.matchMedia('(prefers-color-scheme: dark)');

  function choice() {
    let saved = null;
    try {
      saved = localStorage.getItem(KEY);
    } catch {
      /* storage can be off; the system setting then decides */
    }
    return CHOICES.includes(saved) ? saved : 'system';
  }

  function apply() {
    const chosen = choice();
    const theme = chosen === 'system' ? (dark.matches ? 'dark' : 'light') : chosen;
    document.documentElement.dataset.theme = theme;
    document.documentElement.dataset.themeChoice = chosen;
  }

  function choose(next) {
    if (!CHOICES.includes(next)) return;
    try {
      if (next === 'system') localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, next);
    } catch {
      /* this tab still switches */
    }
    apply();
  }

  dark.addEventListener('change', apply);
  // Another tab of this browser changed the choice.
  window.addEventListener('storage', (e) => {
    if (e.key === KEY || e.key === null) apply();
  });
  apply();
  // For Settings → Appearance (web/views/appearance.js).
  window.batonTheme = { CHOICES, choice, choose };
})();
