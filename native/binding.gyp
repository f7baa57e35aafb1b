{
  "targets": [
    {
      "target_name": "lvsd_native",
      "sources": ["src/addon.c", "src/vrrp_socket.c", "src/vrrp_send.c", "src/vrrp_clock.c", "src/vrrp_clock_api.c", "src/vrrp_socket_setup.c", "src/thread_sched.c", "src/spawn.c", "src/signal_watch.c", "src/link_send.c", "src/netlink_socket.c", "src/tcp_probe.c", "src/tcp_socket.c", "src/tcp_deadline.c", "src/tcp_prober.c", "src/tcp_probe_api.c", "src/tcp_watch.c", "src/tcp_watch_api.c", "src/tcp_runner.c", "src/icmp_socket.c", "src/udp_probe.c", "src/page_out.c", "src/mem_lock.c", "src/util.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wunused-parameter", "-Werror=implicit-function-declaration"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "ldflags": ["-Wl,-z,now"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "lvsd",
      "type": "executable",
      "sources": ["front/main.c", "front/config.c", "front/reload.c", "front/http.c", "front/json.c", "front/out.c", "front/exec.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2", "-fPIE"],
      "ldflags": ["-static-pie"],
      "defines": ["_GNU_SOURCE"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
