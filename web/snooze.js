// Snooze choices, computed in the teammate's own time zone (the browser's, as Intl reports it):
// "Later today" (three hours on), "Tomorrow 9:00", "Next Monday 9:00".

import { t } from './i18n.js';
import { timeOfDay } from './format.js';

export const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || t('snooze.localTime');

function at9(d) {
  const out = new Date(d);
  out.setHours(9, 0, 0, 0);
  return out;
}

/** `[label, Date]` pairs for the snooze menu, from `now` (a Date). */
export function snoozeChoices(now = new Date()) {
  const later = new Date(now.getTime() + 3 * 3600 * 1000);
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  const monday = new Date(now);
  // Days until the next Monday: a Monday goes a whole week on.
  monday.setDate(now.getDate() + (((8 - now.getDay()) % 7) || 7));
  const choices = [
    [t('snooze.tomorrow', { time: timeOfDay(at9(tomorrow)) }), at9(tomorrow)],
    [t('snooze.nextMonday', { time: timeOfDay(at9(monday)) }), at9(monday)],
  ];
  // Late in the evening "later today" would be tomorrow: leave it out then.
  if (later.getDate() === now.getDate()) choices.unshift([t('snooze.laterToday'), later]);
  return choices;
}
