from kerun.cli import main

main()
