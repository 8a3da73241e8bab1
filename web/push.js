// Web Push: the service worker, the VAPID key, and this browser's subscription on the server.

import * as api from './api.js';
import { t } from './i18n.js';

/** The browser's push service can hang (offline, blocked); give up after this long. */
const SUBSCRIBE_WITHIN = 20_000;

export const pushSupported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

export async function registerWorker() {
  if (!('serviceWorker' in navigator)) return null;
  try {
    return await navigator.serviceWorker.register('/sw.js');
  } catch (err) {
    console.warn('service worker registration failed', err);
    return null;
  }
}

function keyBytes(base64url) {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function unavailable(err) {
  if (err instanceof api.ApiError && (err.status === 404 || err.status === 405 || err.status === 501)) {
    return new Error(t('push.unavailable'));
  }
  return err;
}

/** Asks for permission, subscribes this browser and tells the server. Throws with a message to show. */
export async function enablePush() {
  if (!pushSupported()) throw new Error(t('push.unsupported'));
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error(t('push.blocked'));
  await registerWorker();
  const reg = await navigator.serviceWorker.ready;
  let key;
  try {
    key = (await api.get('/api/push/key')).public_key;
  } catch (err) {
    throw unavailable(err);
  }
  let sub = await reg.pushManager.getSubscription();
  if (!sub) {
    try {
      sub = await Promise.race([
        reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }),
        new Promise((_, reject) => { setTimeout(() => reject(new Error(t('push.noAnswer'))), SUBSCRIBE_WITHIN); }),
      ]);
    } catch (err) {
      throw new Error(t('push.subscribeFailed', { reason: err.message }));
    }
  }
  try {
    await api.post('/api/push/subscriptions', sub.toJSON());
  } catch (err) {
    throw unavailable(err);
  }
}

/** Forgets this browser's subscription, here and on the server. */
export async function disablePush() {
  if (!pushSupported()) return;
  const reg = await navigator.serviceWorker.getRegistration();
  const sub = reg && (await reg.pushManager.getSubscription());
  if (!sub) return;
  try {
    await api.del('/api/push/subscriptions', { endpoint: sub.endpoint });
  } catch (err) {
    if (!(err instanceof api.ApiError) || err.status !== 404) throw err;
  }
  await sub.unsubscribe();
}
