/*
 * bench_records.h: realistic record bodies for the benchmarks that go
 * through the office layer (bench_office, bench_fill). Makes case, appeal
 * and testimony bodies of about 2 KB of JSON, with narratives in Kyrgyz,
 * Russian or English (Cyrillic is two bytes a letter, so the byte target is
 * what is held, not the letter count). People appear only as aliases.
 *
 * Deterministic: the same seed gives the same bodies. Header-only (static
 * functions) because each .c file in tests/bench is its own binary.
 * Threads: the generator state is the caller's bench_rng_t.
 */
#ifndef BENCH_RECORDS_H
#define BENCH_RECORDS_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tk_common.h"

#define BENCH_BODY_BYTES 2000 /* target size of one body as compact JSON */

typedef struct bench_rng {
  uint32_t s;
} bench_rng_t;

static uint32_t bench_next(bench_rng_t *r)
{
  r->s ^= r->s << 13;
  r->s ^= r->s >> 17;
  r->s ^= r->s << 5;
  return r->s;
}

static const char *bench_pick(bench_rng_t *r, const char *const *a, size_t n)
{
  return a[bench_next(r) % n];
}

#define BENCH_PICK(r, a) bench_pick((r), (a), sizeof(a) / sizeof(a)[0])

static const char *const bench_ky[] = {
    "Кардар түнкүсүн ордерсиз кармалып, үч күн бою адвокатсыз кармалган.",
    "Милиция кызматкерлери кармоону каттоодон баш тартышкан.",
    "Үй-бүлө мүчөлөрүнө кармалгандыгы тууралуу кабар берилген эмес.",
    "Медициналык экспертиза колунда жана аркасында көгала издерди тастыктады.",
    "Тергөөчү күбөгө басым жасап, көрсөтмөгө мажбурлап кол койдурган.",
    "Сот отуруму эки жолу жылдырылды.",
    "Прокурор камакта кармоо мөөнөтүн узартууну суранды.",
    "Акыйкатчыга даттануу берилип, катталды.",
    "Көрсөтмө котормочунун катышуусунда жазылып алынды.",
    "Кармалган адамдын телефону жана паспорту алынып коюлган.",
    "Жабырлануучу ага коркутуулар болгонун билдирди.",
    "Камерада адам өтө көп, туугандардын жолугушуусуна уруксат берилген жок.",
    "Күбө окуяны базардын жанында көргөнүн айтты.",
    "Адвокат кармоонун мыйзамсыздыгы боюнча арыз жазды."};

static const char *const bench_ru[] = {
    "Подзащитный был задержан ночью без ордера и трое суток содержался без адвоката.",
    "Сотрудники полиции отказались зарегистрировать факт задержания.",
    "Родственники не были уведомлены о месте содержания.",
    "Судебно-медицинская экспертиза зафиксировала кровоподтёки на руках и спине.",
    "Следователь оказывал давление на свидетеля, показания подписаны под принуждением.",
    "Судебное заседание было дважды отложено.",
    "Прокурор ходатайствовал о продлении срока содержания под стражей.",
    "Жалоба направлена омбудсмену и зарегистрирована.",
    "Показания записаны в присутствии переводчика.",
    "У задержанного изъяли телефон и паспорт.",
    "Потерпевший сообщил об угрозах в свой адрес.",
    "Камера переполнена, свидания с родственниками запрещены.",
    "Свидетель видел, как клиента увели с рынка двое в гражданской одежде.",
    "Адвокат подал ходатайство о признании задержания незаконным."};

static const char *const bench_en[] = {
    ("The client was detained at night without a warrant and held for three days "
     "without a lawyer."),
    "Police officers refused to register the arrest.",
    "Family members were not informed where the client was held.",
    "The forensic examination recorded bruises on the arms and back.",
    "The investigator pressured the witness; the statement was signed under duress.",
    "The hearing was postponed twice.",
    "The prosecutor requested an extension of pre-trial custody.",
    "A complaint was filed with the Ombudsman and registered.",
    "The testimony was recorded in the presence of an interpreter.",
    "The detainee's phone and passport were confiscated.",
    "The victim reported threats against him.",
    "The cell is overcrowded and family visits are denied.",
    "The witness saw the client taken from the market by two men in plain clothes.",
    "The lawyer filed a motion to declare the detention unlawful."};

static const char *const bench_regions[] = {"Osh",   "Bishkek", "Jalal-Abad", "Batken",
                                            "Naryn", "Talas",   "Issyk-Kul",  "Chui"};
static const char *const bench_courts[] = {"city court", "district court",
                                           "regional court", "Supreme Court"};
static const char *const bench_articles[] = {
    "Criminal Code art. 143 (torture)", "Criminal Code art. 278 (mass unrest)",
    "Criminal Code art. 330 (incitement)", "Criminal Code art. 122 (illegal detention)",
    "Criminal Code art. 205 (fraud)"};
static const char *const bench_violations[] = {
    "torture",       "arbitrary_detention", "fair_trial",         "freedom_of_expression",
    "ill_treatment", "no_lawyer_access",    "family_not_informed"};
static const char *const bench_status[] = {"open", "appeal_filed", "hearing", "closed"};
static const char *const bench_addressees[] = {
    "Prosecutor General's Office", "Ombudsman (Akyikatchy)", "Regional prosecutor",
    "UN Special Rapporteur on torture", "Supreme Court"};
static const char *const bench_subjects[] = {
    "Request for a forensic medical examination", "Complaint about detention conditions",
    "Appeal against the custody extension", "Request for access to the case file",
    "Complaint about pressure on a witness"};

/* Appends sentences of one language to the string until *room bytes are
 * used (the last sentence may overshoot a little). */
static void bench_text(bench_rng_t *r, tk_buf_t *b, const char *lang, size_t room)
{
  size_t start = b->n;
  while (b->n - start < room) {
    const char *s = strcmp(lang, "ky") == 0   ? BENCH_PICK(r, bench_ky)
                    : strcmp(lang, "ru") == 0 ? BENCH_PICK(r, bench_ru)
                                              : BENCH_PICK(r, bench_en);
    tk_buf_printf(b, "%s%s", b->n > start ? " " : "", s);
  }
}

static size_t bench_json_size(const json_t *j)
{
  return json_dumpb(j, NULL, 0, JSON_COMPACT);
}

static void bench_date(bench_rng_t *r, char *out, size_t n)
{
  snprintf(out, n, "20%02u-%02u-%02u", 22 + bench_next(r) % 5, 1 + bench_next(r) % 12,
           1 + bench_next(r) % 28);
}

static void bench_alias(bench_rng_t *r, const char *prefix, char *out, size_t n)
{
  snprintf(out, n, "%s-%u", prefix, 1 + bench_next(r) % 999);
}

/* The i-th body: *type_out is "case", "appeal" or "testimony" (4:3:3).
 * Returns a new JSON object (caller json_decref()s), or NULL when out of
 * memory. */
static json_t *bench_body(bench_rng_t *r, unsigned i, const char **type_out)
{
  static const char *const langs[] = {"ky", "ru", "en"};
  char d1[16], d2[16], a1[32], a2[32], caseno[40];
  const char *lang = langs[bench_next(r) % 3];
  const char *region = BENCH_PICK(r, bench_regions);
  unsigned kind = i % 10;
  json_t *j = NULL;
  bench_date(r, d1, sizeof d1);
  bench_date(r, d2, sizeof d2);
  snprintf(caseno, sizeof caseno, "%.3s-%u-%05u", region, 2022 + i % 5, i);
  for (char *p = caseno; *p && *p != '-'; p++)
    if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
  if (kind < 4) {
    *type_out = "case";
    bench_alias(r, "Client A", a1, sizeof a1);
    bench_alias(r, "Officer X", a2, sizeof a2);
    char court[64];
    snprintf(court, sizeof court, "%s %s", region, BENCH_PICK(r, bench_courts));
    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:[s,s],s:s,s:s,s:s,s:[{s:s,s:s},{s:s,s:s}]}",
                  "case_number", caseno, "client_alias", a1, "office", region, "region",
                  region, "court", court, "article", BENCH_PICK(r, bench_articles),
                  "violations", BENCH_PICK(r, bench_violations),
                  BENCH_PICK(r, bench_violations), "status", BENCH_PICK(r, bench_status),
                  "opened", d1, "language", lang, "parties", "role", "client", "alias",
                  a1, "role", "accused_officer", "alias", a2);
  } else if (kind < 7) {
    *type_out = "appeal";
    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "addressee",
                  BENCH_PICK(r, bench_addressees), "date_sent", d1, "subject",
                  BENCH_PICK(r, bench_subjects), "related_case", caseno, "reply_due", d2,
                  "status", bench_next(r) % 2 ? "sent" : "answered", "language", lang);
  } else {
    *type_out = "testimony";
    bench_alias(r, "W", a1, sizeof a1);
    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "witness_alias", a1, "consent",
                  bench_next(r) % 4 ? "written" : "recorded", "date", d1, "place", region,
                  "language", lang, "related_case", caseno, "sensitivity",
                  bench_next(r) % 3 ? "high" : "medium");
  }
  if (!j) return NULL;
  /* title and narrative fill the body up to the target size */
  tk_buf_t t = TK_BUF_INIT;
  bench_text(r, &t, lang, 60);
  json_object_set_new(j, "title", json_stringn((const char *)t.p, t.n));
  size_t have = bench_json_size(j) + sizeof "\"narrative\":\"\",";
  t.n = 0;
  bench_text(r, &t, lang, have < BENCH_BODY_BYTES ? BENCH_BODY_BYTES - have : 1);
  json_object_set_new(j, "narrative", json_stringn((const char *)t.p, t.n));
  tk_buf_free(&t);
  return j;
}

static double bench_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
