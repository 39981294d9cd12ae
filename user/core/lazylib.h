/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * libcurl and libmicrohttpd, loaded (dlopen) by the commands that talk HTTP (agent,
 * metrics) instead of at every start: with their dependencies they are 30 of the 39
 * shared objects the binary would otherwise map and relocate, ~18 ms of every
 * `l4split weight` on a 2-CPU VM (measured: 25 ms vs 7 ms for an empty main()).
 *
 * Include after <curl/curl.h> and <microhttpd.h>: the library's names become calls
 * through the pointers below, which lazy_curl() / lazy_mhd() fill (and which are NULL
 * before: a call before loading crashes loudly instead of misbehaving).
 */
#ifndef L4S_LAZYLIB_H
#define L4S_LAZYLIB_H

#include <curl/curl.h>
#include <microhttpd.h>

struct lazy_curl_fns {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_global_cleanup) *global_cleanup;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	__typeof__(curl_multi_init) *multi_init;
	__typeof__(curl_multi_add_handle) *multi_add_handle;
	__typeof__(curl_multi_remove_handle) *multi_remove_handle;
	__typeof__(curl_multi_perform) *multi_perform;
	__typeof__(curl_multi_poll) *multi_poll;
	__typeof__(curl_multi_info_read) *multi_info_read;
	__typeof__(curl_multi_cleanup) *multi_cleanup;
};

struct lazy_mhd_fns {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
};

extern struct lazy_curl_fns lazy_curl_fn;
extern struct lazy_mhd_fns lazy_mhd_fn;

/* Load the library once: 0, or -errno with a message naming the package to install. */
int lazy_curl(void);
int lazy_mhd(void);

#ifndef L4S_LAZYLIB_IMPL
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init        (*lazy_curl_fn.global_init)
#define curl_global_cleanup     (*lazy_curl_fn.global_cleanup)
#define curl_easy_init          (*lazy_curl_fn.easy_init)
#define curl_easy_setopt        (*lazy_curl_fn.easy_setopt)
#define curl_easy_getinfo       (*lazy_curl_fn.easy_getinfo)
#define curl_easy_perform       (*lazy_curl_fn.easy_perform)
#define curl_easy_cleanup       (*lazy_curl_fn.easy_cleanup)
#define curl_easy_strerror      (*lazy_curl_fn.easy_strerror)
#define curl_slist_append       (*lazy_curl_fn.slist_append)
#define curl_slist_free_all     (*lazy_curl_fn.slist_free_all)
#define curl_multi_init         (*lazy_curl_fn.multi_init)
#define curl_multi_add_handle   (*lazy_curl_fn.multi_add_handle)
#define curl_multi_remove_handle (*lazy_curl_fn.multi_remove_handle)
#define curl_multi_perform      (*lazy_curl_fn.multi_perform)
#define curl_multi_poll         (*lazy_curl_fn.multi_poll)
#define curl_multi_info_read    (*lazy_curl_fn.multi_info_read)
#define curl_multi_cleanup      (*lazy_curl_fn.multi_cleanup)
#define MHD_start_daemon        (*lazy_mhd_fn.start_daemon)
#define MHD_stop_daemon         (*lazy_mhd_fn.stop_daemon)
#define MHD_create_response_from_buffer (*lazy_mhd_fn.create_response_from_buffer)
#define MHD_add_response_header (*lazy_mhd_fn.add_response_header)
#define MHD_queue_response      (*lazy_mhd_fn.queue_response)
#define MHD_destroy_response    (*lazy_mhd_fn.destroy_response)
#endif

#endif
