/* strata/version.h — Strata's version. */
#ifndef STRATA_VERSION_H
#define STRATA_VERSION_H

#define STRATA_VERSION "0.1.0"
#define STRATA_PROTOCOL_VERSION 1

#endif
