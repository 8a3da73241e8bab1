// How a text splits into SMS segments: GSM-7 when every character is in the GSM 03.38 alphabet
// (extension characters take two), else UCS-2 (UTF-16 code units). One segment holds 160 / 70;
// a split message 153 / 67 per segment (the rest is the concatenation header).

const GSM = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXT = '^{}\\[~]|€\f';

export function segments(text) {
  let units = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM.includes(ch)) units += 1;
    else if (GSM_EXT.includes(ch)) units += 2;
    else { gsm = false; break; }
  }
  if (!gsm) units = text.length;
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  const count = units <= single ? 1 : Math.ceil(units / multi);
  const left = units <= single ? single - units : count * multi - units;
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', units, segments: count, left };
}
