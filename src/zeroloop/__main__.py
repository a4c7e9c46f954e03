from zeroloop.cli import main

main()
