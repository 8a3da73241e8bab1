// The unread count wherever the browser shows one: tab title `(3) Baton`, a badge drawn on the
// favicon, and the installed app's icon badge.

const BASE_TITLE = 'Baton';
let current = -1;
let baseIcon = null;

function loadBaseIcon() {
  if (!baseIcon) {
    baseIcon = new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => resolve(null);
      img.src = '/favicon.svg';
    });
  }
  return baseIcon;
}

async function drawFavicon(count) {
  const link = document.getElementById('favicon');
  if (!link) return;
  if (count === 0) {
    link.type = 'image/svg+xml';
    link.href = '/favicon.svg';
    return;
  }
  const img = await loadBaseIcon();
  if (count !== current) return;
  const size = 64;
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  if (img) ctx.drawImage(img, 0, 0, size, size);
  const text = count > 99 ? '99+' : String(count);
  const r = text.length > 1 ? 20 : 17;
  const cx = size - r;
  const cy = r;
  ctx.beginPath();
  ctx.fillStyle = '#dc2626';
  ctx.arc(cx, cy, r, 0, Math.PI * 2);
  ctx.fill();
  ctx.lineWidth = 4;
  ctx.strokeStyle = '#ffffff';
  ctx.stroke();
  ctx.fillStyle = '#ffffff';
  ctx.font = `bold ${text.length > 2 ? 16 : text.length > 1 ? 22 : 26}px system-ui, sans-serif`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, cx, cy + 1);
  link.type = 'image/png';
  link.href = canvas.toDataURL('image/png');
}

export function showUnread(count) {
  const n = Math.max(0, Number(count) || 0);
  if (n === current) return;
  current = n;
  document.title = n > 0 ? `(${n}) ${BASE_TITLE}` : BASE_TITLE;
  drawFavicon(n);
  if ('setAppBadge' in navigator) {
    const done = n > 0 ? navigator.setAppBadge(n) : navigator.clearAppBadge();
    done.catch(() => { /* not installed, or not allowed: the title still shows it */ });
  }
}

export function resetUnread() {
  current = -1;
  showUnread(0);
}
