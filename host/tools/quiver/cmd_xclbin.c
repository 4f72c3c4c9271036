/*
 * cmd_xclbin.c - `quiver xclbin`: the xclbin reader and writer
 * (host/src/xclbin) on the command line, one file per subcommand: info
 * (cmd_xclbin_info.c) validates a file completely before it prints
 * anything; build (cmd_xclbin_build.c) makes an xclbin from kernel
 * signatures, with an optional payload; entry (cmd_xclbin_entry.c) writes
 * the C entry of a kernel for sw_emu. docs/xclbin.md has examples.
 */
#include <string.h>

#include "cmd_xclbin.h"

void qv_xclbin_usage(FILE *out)
{
    fprintf(
        out,
        "usage: quiver xclbin info [--json] FILE|-\n"
        "       quiver xclbin entry --kernel 'NAME(ARG:TYPE, ...)' [--header FILE.h] -o OUT.c\n"
        "       quiver xclbin build -o OUT --platform NAME [--mode hw|sw_emu|hw_emu]\n"
        "                           [--project NAME] [--bank TYPE:SIZE[:TAG]]...\n"
        "                           [--bitstream FILE] [--timestamp SECONDS]\n"
        "                           --kernel 'NAME(ARG:TYPE, ...)' [--cus N]...\n"
        "                           [--sp CU.ARG:BANK]...\n"
        "\n"
        "info   validates FILE (header, sections, metadata) and prints its mode,\n"
        "       platform, sections, memory banks, kernels with their arguments\n"
        "       and compute units, and which bank each argument of each CU uses.\n"
        "       A malformed file gets one line naming the offset and the fault.\n"
        "\n"
        "build  writes an xclbin that XRT accepts: MEM_TOPOLOGY, IP_LAYOUT,\n"
        "       CONNECTIVITY, EMBEDDED_METADATA and, with --bitstream, BITSTREAM.\n"
        "  --kernel 'vadd(a:int*, b:const int*, n:int)'  one kernel (repeatable);\n"
        "         a TYPE ending in '*' is a global pointer into a bank, other\n"
        "         types are scalars of known size (char..double, [u]intN_t,\n"
        "         size_t) or NAME:TYPE@BYTES for any other scalar.\n"
        "  --cus N           compute units of the kernel before it (default 1),\n"
        "                    named NAME_1..NAME_N.\n"
        "  --bank TYPE:SIZE[:TAG]  a memory bank (repeatable; default DDR4:16G);\n"
        "                    TYPE DDR3, DDR4, DRAM (PLRAM), HBM, BRAM, URAM, HOST;\n"
        "                    SIZE in bytes with K, M, G or T; TAG defaults to\n"
        "                    DDR[n], HBM[n], PLRAM[n]...\n"
        "  --sp CU.ARG:BANK  connects argument ARG of compute unit CU (vadd_2)\n"
        "                    to BANK (a tag or an index); by default CU i uses\n"
        "                    bank (i-1) %% number of banks.\n"
        "  --mode            hw (XCLBIN_FLAT, default), sw_emu or hw_emu.\n"
        "  --timestamp       seconds since the epoch for the header (default\n"
        "                    $SOURCE_DATE_EPOCH, else 0: reproducible builds).\n"
        "\n"
        "entry  writes the C entry NAME__emu of a kernel for sw_emu builds.\n"
        "\n"
        "Options take --opt=V or --opt V, in any order; FILE '-' is standard\n"
        "input for info, OUT '-' standard output for build and entry.\n");
}

int qv_cmd_xclbin(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        qv_xclbin_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? QV_CLI_USAGE : 0;
    }
    if (!strcmp(argv[1], "info"))
        return qv_cmd_xclbin_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "entry"))
        return qv_cmd_xclbin_entry(argc - 1, argv + 1);
    if (!strcmp(argv[1], "build"))
        return qv_cmd_xclbin_build(argc - 1, argv + 1);
    fprintf(stderr,
            "quiver xclbin: unknown subcommand '%s' (info, build, entry)\n"
            "Try 'quiver xclbin --help'.\n",
            qv_cli_esc(argv[1]));
    return QV_CLI_USAGE;
}
