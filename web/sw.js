// Service worker: shows a notification for each push and brings the case up on click.
/* eslint-env serviceworker */

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/** Only paths of this origin are followed; anything else opens the inbox. */
function casePath(data) {
  try {
    const url = new URL(data && data.url ? data.url : '/', self.location.origin);
    if (url.origin === self.location.origin) return url.pathname + url.search;
  } catch {
    /* fall through */
  }
  return data && data.case_id ? `/cases/${encodeURIComponent(data.case_id)}` : '/';
}

function notificationFor(data) {
  const title = (data && data.title) || 'Baton';
  const options = {
    body: (data && data.body) || '',
    icon: '/icon.svg',
    badge: '/icon.svg',
    data: { url: casePath(data), case_id: data && data.case_id },
  };
  if (data && data.case_id) {
    options.tag = `case-${data.case_id}`;
    options.renotify = true;
  }
  return { title, options };
}

self.addEventListener('push', (event) => {
  let data = {};
  if (event.data) {
    try {
      data = event.data.json();
    } catch {
      data = { body: event.data.text() };
    }
  }
  const { title, options } = notificationFor(data);
  event.waitUntil(self.registration.showNotification(title, options));
});

/**
 * Shows `path` in a Baton tab: an open one is told to navigate (no reload, its live connection
 * stays) and focused; with none open, a new window opens.
 */
async function openCase(path) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const tab = windows.find((c) => new URL(c.url).origin === self.location.origin);
  if (tab) {
    tab.postMessage({ type: 'navigate', url: path });
    try {
      await tab.focus();
    } catch {
      /* focusing needs a user gesture; the tab has navigated anyway */
    }
    return tab;
  }
  return self.clients.openWindow(path);
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  event.waitUntil(openCase(data.url || '/'));
});
